using System.Buffers.Binary;
using Rose.SafeTensors;

namespace Rose.Pipeline;

/// <summary>The saved-activations layout shared by every <see cref="ICalibrationRunner"/>: a
/// little-endian header (magic, windows, sequence length, model width, element dtype) followed by the
/// windows' hidden states in the model's activation dtype (they hold values of that dtype, so a 7B
/// point is 2 GiB in bf16 rather than 4 in fp32), checked before they are loaded.</summary>
public static class CalibrationStates
{
    private static ReadOnlySpan<byte> Magic => "ROSESTS2"u8;
    private const int HeaderBytes = 8 + 4 * sizeof(int);

    public static void WriteHeader(Stream stream, int windows, int seqLen, int hidden, DType dtype)
    {
        Span<byte> header = stackalloc byte[HeaderBytes];
        Magic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], windows);
        BinaryPrimitives.WriteInt32LittleEndian(header[12..], seqLen);
        BinaryPrimitives.WriteInt32LittleEndian(header[16..], hidden);
        BinaryPrimitives.WriteInt32LittleEndian(header[20..], Code(dtype));
        stream.Write(header);
    }

    public static void ReadHeader(Stream stream, int windows, int seqLen, int hidden, DType dtype)
    {
        Span<byte> header = stackalloc byte[HeaderBytes];
        ReadExactly(stream, header);
        if (!header[..8].SequenceEqual(Magic))
            throw new RoseException($"{NameOf(stream)}: not a calibration activations file this rose saved; run without --resume to start over");
        int w = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        int s = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
        int h = BinaryPrimitives.ReadInt32LittleEndian(header[16..]);
        int d = BinaryPrimitives.ReadInt32LittleEndian(header[20..]);
        if (w != windows || s != seqLen || h != hidden || d != Code(dtype))
            throw new RoseException($"{NameOf(stream)}: saved activations are {w} windows × {s} tokens × {h} {NameOfCode(d)}, " +
                $"this run needs {windows} × {seqLen} × {hidden} {dtype.ToSafeTensorsString()}");
    }

    // Codes of their own: the file must not change meaning if the DType enum is reordered.
    private static int Code(DType dtype) => dtype switch
    {
        DType.F32 => 1,
        DType.BF16 => 2,
        DType.F16 => 3,
        _ => throw new ArgumentException($"activations are not saved as {dtype.ToSafeTensorsString()}", nameof(dtype)),
    };

    private static string NameOfCode(int code) => code switch { 1 => "F32", 2 => "BF16", 3 => "F16", _ => $"dtype code {code}" };

    /// <summary>Fills <paramref name="destination"/> or says the file is cut short.</summary>
    public static void ReadExactly(Stream stream, Span<byte> destination)
    {
        try
        {
            stream.ReadExactly(destination);
        }
        catch (EndOfStreamException e)
        {
            throw new RoseException($"{NameOf(stream)}: saved activations are truncated", e);
        }
    }

    private static string NameOf(Stream stream) => stream is FileStream file ? file.Name : "activations";
}
