using NUnit.Framework;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Rose.SafeTensors;

namespace Rose.Tests.SafeTensors;

[TestFixture]
public class SafeTensorsRoundTripTests
{
    private TempFolder _temp = null!;

    [SetUp] public void SetUp() => _temp = new TempFolder();
    [TearDown] public void TearDown() => _temp.Dispose();

    private static float[] RandomFloats(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 20 - 10)).ToArray();
    }

    [TestCase(DType.F32)]
    [TestCase(DType.F16)]
    [TestCase(DType.BF16)]
    [TestCase(DType.F64)]
    public void FloatTensorsRoundTripWithExpectedRounding(DType dtype)
    {
        var values = RandomFloats(3 * 37, seed: (int)dtype);
        values[0] = 0f; values[1] = -0f; values[2] = 65504f; values[3] = 1e-30f;
        var path = _temp.File("f.safetensors");
        using (var writer = new SafeTensorsFileWriter(path, [new TensorSpec("w", dtype, [3, 37])]))
        {
            writer.WriteFloat32("w", values);
            writer.Complete();
        }

        Func<float, float> expected = dtype switch
        {
            DType.F16 => v => (float)(Half)v,
            DType.BF16 => v => FloatConversion.BFloat16ToSingle(FloatConversion.SingleToBFloat16(v)),
            _ => v => v,
        };
        using var file = SafeTensorsFile.Open(path);
        var info = file.GetInfo("w");
        Assert.That(info.DType, Is.EqualTo(dtype));
        Assert.That(info.Shape, Is.EqualTo(new long[] { 3, 37 }));
        Assert.That(info.NumElements, Is.EqualTo(111));
        var read = file.ReadFloat32("w");
        var intoSpan = new float[values.Length];
        file.ReadFloat32("w", intoSpan);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.That(read[i], Is.EqualTo(expected(values[i])), $"element {i}");
            Assert.That(BitConverter.SingleToInt32Bits(intoSpan[i]), Is.EqualTo(BitConverter.SingleToInt32Bits(read[i])));
        }
        if (dtype != DType.F32 && dtype != DType.F64)
            Assert.That(read, Is.Not.EqualTo(values), "16-bit storage must actually round");
    }

    [Test]
    public void IntegerAndByteTensorsRoundTripExactly()
    {
        long[] i64 = [long.MinValue, -1, 0, 1, long.MaxValue, 1L << 40];
        int[] i32 = [int.MinValue, -7, 0, 7, int.MaxValue];
        byte[] u8 = [0, 1, 127, 128, 255];
        byte[] flags = [1, 0, 0, 1];
        byte[] i8 = [0x80, 0xFF, 0x00, 0x7F];
        short[] i16 = [-32768, -1, 2, 32767];
        var path = _temp.File("ints.safetensors");
        TensorSpec[] specs =
        [
            new("i64", DType.I64, [2, 3]), new("i32", DType.I32, [5]), new("u8", DType.U8, [5]),
            new("mask", DType.Bool, [2, 2]), new("i8", DType.I8, [4]), new("i16", DType.I16, [4]),
            new("scalar", DType.I32, []), new("empty", DType.F32, [0, 4]),
        ];
        using (var writer = new SafeTensorsFileWriter(path, specs))
        {
            // Deliberately out of file order: slots are addressed by offset.
            writer.Write("i16", MemoryMarshal.AsBytes<short>(i16));
            writer.Write("mask", flags);
            writer.Write("u8", u8);
            writer.Write("i8", i8);
            writer.Write("i32", MemoryMarshal.AsBytes<int>(i32));
            writer.Write("i64", MemoryMarshal.AsBytes<long>(i64));
            writer.Write("scalar", BitConverter.GetBytes(42));
            writer.Write("empty", ReadOnlySpan<byte>.Empty);
            writer.Complete();
        }

        using var file = SafeTensorsFile.Open(path);
        Assert.That(file.ReadInt64("i64"), Is.EqualTo(i64));
        Assert.That(file.ReadInt32("i32"), Is.EqualTo(i32));
        Assert.That(file.ReadBytes("u8"), Is.EqualTo(u8));
        Assert.That(file.ReadBytes("mask"), Is.EqualTo(flags));
        Assert.That(file.ReadBytes("i8"), Is.EqualTo(i8));
        Assert.That(MemoryMarshal.Cast<byte, short>(file.GetBytes("i16")).ToArray(), Is.EqualTo(i16));
        Assert.That(file.ReadInt32("scalar"), Is.EqualTo(new[] { 42 }));
        Assert.That(file.GetInfo("scalar").NumElements, Is.EqualTo(1));
        Assert.That(file.ReadFloat32("empty"), Is.Empty);
        Assert.That(file.Tensors.Select(t => t.Name), Is.EqualTo(specs.Select(s => s.Name)), "file order is the spec order");
        Assert.That(file.Metadata["format"], Is.EqualTo("pt"));
    }

    [Test]
    public void HeaderIsSpacePaddedToMultipleOfEight()
    {
        var path = _temp.File("pad.safetensors");
        using (var writer = new SafeTensorsFileWriter(path, [new TensorSpec("abc", DType.U8, [3])]))
        {
            writer.Write("abc", [1, 2, 3]);
            writer.Complete();
        }
        var bytes = File.ReadAllBytes(path);
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.That(headerLength % 8, Is.EqualTo(0));
        Assert.That(bytes.Length, Is.EqualTo(8 + headerLength + 3));
        var header = Encoding.UTF8.GetString(bytes, 8, headerLength);
        Assert.That(header, Does.StartWith("{\"__metadata__\":{\"format\":\"pt\"}"));
        Assert.That(header.TrimEnd(' '), Does.EndWith("}"));
        Assert.That(bytes[^3..], Is.EqualTo(new byte[] { 1, 2, 3 }));
    }

    [Test]
    public void ChunkedWritesFillTheTensor()
    {
        var values = RandomFloats(1000, seed: 3);
        var path = _temp.File("chunks.safetensors");
        using (var writer = new SafeTensorsFileWriter(path, [new TensorSpec("w", DType.BF16, [1000]), new TensorSpec("b", DType.U8, [10])]))
        {
            writer.WriteFloat32("w", 600, values.AsSpan(600));
            writer.WriteFloat32("w", 0, values.AsSpan(0, 600));
            writer.Write("b", 5, new byte[] { 5, 6, 7, 8, 9 });
            writer.Write("b", 0, new byte[] { 0, 1, 2, 3, 4 });
            writer.Complete();
        }
        using var file = SafeTensorsFile.Open(path);
        var read = file.ReadFloat32("w");
        for (int i = 0; i < values.Length; i++)
            Assert.That(read[i], Is.EqualTo(FloatConversion.BFloat16ToSingle(FloatConversion.SingleToBFloat16(values[i]))));
        Assert.That(file.ReadBytes("b"), Is.EqualTo(Enumerable.Range(0, 10).Select(i => (byte)i)));
        Assert.That(file.GetBytes("b", 3, 4).ToArray(), Is.EqualTo(new byte[] { 3, 4, 5, 6 }));
    }

    [Test]
    public void CompleteNamesUnwrittenTensors()
    {
        var path = _temp.File("partial.safetensors");
        using var writer = new SafeTensorsFileWriter(path, [new TensorSpec("done", DType.F32, [2]), new TensorSpec("forgotten", DType.F32, [2])]);
        writer.WriteFloat32("done", [1f, 2f]);
        var e = Assert.Throws<RoseException>(() => writer.Complete());
        Assert.That(e!.Message, Does.Contain("forgotten").And.Contain("partial.safetensors").And.Not.Contain("done,"));
    }

    [Test]
    public void WritingWrongLengthOrUnknownTensorFails()
    {
        var path = _temp.File("bad.safetensors");
        using var writer = new SafeTensorsFileWriter(path, [new TensorSpec("w", DType.F16, [4]), new TensorSpec("ids", DType.I64, [1])]);
        Assert.Throws<ArgumentException>(() => writer.WriteFloat32("w", [1f, 2f, 3f]));
        var unknown = Assert.Throws<RoseException>(() => writer.WriteFloat32("nope", [1f]));
        Assert.That(unknown!.Message, Does.Contain("nope"));
        var notFloat = Assert.Throws<RoseException>(() => writer.WriteFloat32("ids", [1f]));
        Assert.That(notFloat!.Message, Does.Contain("ids").And.Contain("I64"));
    }

    [Test]
    public void ReadingWithWrongDtypeNamesFileTensorAndBothDtypes()
    {
        var path = _temp.File("typed.safetensors");
        using (var writer = new SafeTensorsFileWriter(path, [new TensorSpec("ids", DType.I64, [2]), new TensorSpec("w", DType.BF16, [2])]))
        {
            writer.Write("ids", new byte[16]);
            writer.WriteFloat32("w", [1f, 2f]);
            writer.Complete();
        }
        using var file = SafeTensorsFile.Open(path);
        var asFloat = Assert.Throws<RoseException>(() => file.ReadFloat32("ids"));
        Assert.That(asFloat!.Message, Does.Contain("typed.safetensors").And.Contain("'ids'").And.Contain("I64").And.Contain("F32"));
        var asLong = Assert.Throws<RoseException>(() => file.ReadInt64("w"));
        Assert.That(asLong!.Message, Does.Contain("typed.safetensors").And.Contain("'w'").And.Contain("BF16").And.Contain("I64"));
        var asInt = Assert.Throws<RoseException>(() => file.ReadInt32("ids"));
        Assert.That(asInt!.Message, Does.Contain("I64").And.Contain("I32"));
        var asBytes = Assert.Throws<RoseException>(() => file.ReadBytes("w"));
        Assert.That(asBytes!.Message, Does.Contain("BF16").And.Contain("U8"));
        var missing = Assert.Throws<RoseException>(() => file.GetInfo("absent"));
        Assert.That(missing!.Message, Does.Contain("typed.safetensors").And.Contain("absent"));
    }

    [Test]
    public void LargeTensorConvertsAcrossParallelChunks()
    {
        // Several million elements so the reader splits the conversion into chunks and threads.
        const int n = (1 << 22) + 13;
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = (i % 1000) * 0.37f - 100f;
        var path = _temp.File("large.safetensors");
        using (var writer = new SafeTensorsFileWriter(path, [new TensorSpec("w", DType.BF16, [n])]))
        {
            writer.WriteFloat32("w", values);
            writer.Complete();
        }
        using var file = SafeTensorsFile.Open(path);
        var read = file.ReadFloat32("w");
        var raw = MemoryMarshal.Cast<byte, ushort>(file.GetBytes("w"));
        for (int i = 0; i < n; i += 4099)
        {
            Assert.That(raw[i], Is.EqualTo(FloatConversion.SingleToBFloat16(values[i])), $"stored element {i}");
            Assert.That(read[i], Is.EqualTo(FloatConversion.BFloat16ToSingle(raw[i])), $"read element {i}");
        }
        Assert.That(read[n - 1], Is.EqualTo(FloatConversion.BFloat16ToSingle(FloatConversion.SingleToBFloat16(values[n - 1]))));
    }
}
