using System.Buffers.Binary;

namespace Rose.Pipeline;

/// <summary>The saved-activations layout shared by every <see cref="ICalibrationRunner"/>: a
/// little-endian header (magic, windows, sequence length, model width) followed by the windows'
/// fp32 hidden states, so states saved on one device can be checked before they are loaded.</summary>
public static class CalibrationStates
{
    private static ReadOnlySpan<byte> Magic => "ROSESTS1"u8;
    private const int HeaderBytes = 8 + 3 * sizeof(int);

    public static void WriteHeader(Stream stream, int windows, int seqLen, int hidden)
    {
        Span<byte> header = stackalloc byte[HeaderBytes];
        Magic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], windows);
        BinaryPrimitives.WriteInt32LittleEndian(header[12..], seqLen);
        BinaryPrimitives.WriteInt32LittleEndian(header[16..], hidden);
        stream.Write(header);
    }

    public static void ReadHeader(Stream stream, int windows, int seqLen, int hidden)
    {
        Span<byte> header = stackalloc byte[HeaderBytes];
        ReadExactly(stream, header);
        if (!header[..8].SequenceEqual(Magic))
            throw new RoseException($"{NameOf(stream)}: not a saved calibration activations file");
        int w = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        int s = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
        int h = BinaryPrimitives.ReadInt32LittleEndian(header[16..]);
        if (w != windows || s != seqLen || h != hidden)
            throw new RoseException($"{NameOf(stream)}: saved activations are {w} windows × {s} tokens × {h}, this run needs {windows} × {seqLen} × {hidden}");
    }

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
