using NUnit.Framework;
using System.Buffers.Binary;
using Rose.SafeTensors;

namespace Rose.Tests.SafeTensors;

/// <summary>Reads a file laid out by hand (header JSON and bytes written here), so the reader
/// is checked against the format itself rather than against our own writer.</summary>
[TestFixture]
public class HandBuiltFileTests
{
    [Test]
    public void ReaderDecodesHandBuiltLayout()
    {
        using var temp = new TempFolder();
        var path = temp.File("hand.safetensors");
        var data = new byte[12 + 6 + 6 + 16 + 3];
        // F32 "f" at [0, 12): 1.5, -2, 3.25
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(0), 1.5f);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4), -2f);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(8), 3.25f);
        // BF16 "b" at [12, 18): 0x3FC0 = 1.5, 0xC000 = -2, 0x4050 = 3.25
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(12), 0x3FC0);
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(14), 0xC000);
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(16), 0x4050);
        // F16 "h" at [18, 24): 0x3E00 = 1.5, 0xC000 = -2, 0x4280 = 3.25
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(18), 0x3E00);
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(20), 0xC000);
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(22), 0x4280);
        // I64 "ids" at [24, 40): 5, -1
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(24), 5);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(32), -1);
        // BOOL "m" at [40, 43)
        data[40] = 1; data[41] = 0; data[42] = 1;

        // Entries listed out of offset order and an unpadded header (so the data is unaligned).
        const string header =
            "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[24,40]}," +
            "\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[18,24]}," +
            "\"__metadata__\":{\"format\":\"pt\",\"note\":\"by hand\"}," +
            "\"f\":{\"dtype\":\"F32\",\"shape\":[1,3],\"data_offsets\":[0,12]}," +
            "\"m\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[40,43]}," +
            "\"b\":{\"dtype\":\"BF16\",\"shape\":[3,1],\"data_offsets\":[12,18]}}";
        RawSafeTensors.Write(path, header, data);

        using var file = SafeTensorsFile.Open(path);
        Assert.That(file.Tensors.Select(t => t.Name), Is.EqualTo(new[] { "f", "b", "h", "ids", "m" }));
        Assert.That(file.Metadata, Is.EquivalentTo(new Dictionary<string, string> { ["format"] = "pt", ["note"] = "by hand" }));
        Assert.That(file.DataOffset, Is.EqualTo(8 + header.Length));
        float[] expected = [1.5f, -2f, 3.25f];
        Assert.That(file.ReadFloat32("f"), Is.EqualTo(expected));
        Assert.That(file.ReadFloat32("b"), Is.EqualTo(expected));
        Assert.That(file.ReadFloat32("h"), Is.EqualTo(expected));
        Assert.That(file.ReadInt64("ids"), Is.EqualTo(new long[] { 5, -1 }));
        Assert.That(file.ReadBytes("m"), Is.EqualTo(new byte[] { 1, 0, 1 }));
        Assert.That(file.GetInfo("b").Shape, Is.EqualTo(new long[] { 3, 1 }));
        Assert.That(file.GetInfo("ids").Begin, Is.EqualTo(24));
        Assert.That(file.GetInfo("ids").End, Is.EqualTo(40));
        Assert.That(file.GetBytes("b").ToArray(), Is.EqualTo(data[12..18]));
        unsafe
        {
            Assert.That(*(file.GetPointer("m") + 2), Is.EqualTo(1));
        }
        Assert.That(file.Contains("f"), Is.True);
        Assert.That(file.Contains("__metadata__"), Is.False);
    }
}
