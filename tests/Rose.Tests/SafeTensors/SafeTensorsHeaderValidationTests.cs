using NUnit.Framework;
using Rose.SafeTensors;

namespace Rose.Tests.SafeTensors;

[TestFixture]
public class SafeTensorsHeaderValidationTests
{
    private TempFolder _temp = null!;

    [SetUp] public void SetUp() => _temp = new TempFolder();
    [TearDown] public void TearDown() => _temp.Dispose();

    private RoseException OpenFails(string fileName)
    {
        var e = Assert.Throws<RoseException>(() => SafeTensorsFile.Open(_temp.File(fileName)).Dispose());
        Assert.That(e!.Message, Does.Contain(fileName), "the message names the file");
        Assert.That(e.Message, Does.Not.Contain("\n"), "one line");
        return e;
    }

    [Test]
    public void FileShorterThanEightBytes()
    {
        File.WriteAllBytes(_temp.File("tiny.safetensors"), [1, 2, 3, 4, 5]);
        Assert.That(OpenFails("tiny.safetensors").Message, Does.Contain("shorter than the 8-byte"));
    }

    [Test]
    public void EmptyFile()
    {
        File.WriteAllBytes(_temp.File("empty.safetensors"), []);
        Assert.That(OpenFails("empty.safetensors").Message, Does.Contain("is 0 bytes"));
    }

    [Test]
    public void HeaderLengthLargerThanFile()
    {
        RawSafeTensors.Write(_temp.File("trunc.safetensors"), "{}", new byte[10], declaredHeaderLength: 1000);
        Assert.That(OpenFails("trunc.safetensors").Message, Does.Contain("header length 1000").And.Contain("larger than the 12 bytes"));
    }

    [Test]
    public void HeaderLengthOverLimit()
    {
        RawSafeTensors.Write(_temp.File("huge.safetensors"), "{}", [], declaredHeaderLength: 200_000_000);
        Assert.That(OpenFails("huge.safetensors").Message, Does.Contain("over the 100 MB limit"));
    }

    [Test]
    public void HeaderPaddedWithTrailingSpacesIsAccepted()
    {
        var path = _temp.File("padded.safetensors");
        RawSafeTensors.Write(path, "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}       ", [7, 9]);
        using var file = SafeTensorsFile.Open(path);
        Assert.That(file.ReadBytes("a"), Is.EqualTo(new byte[] { 7, 9 }));
    }

    private const string Ok = "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

    // Each malformed header must be reported with its own message; tensor-level ones name the tensor.
    [TestCase("{\"a\":", 8, "not valid JSON", null)]
    [TestCase("[1, 2]", 8, "not a JSON object (found Array)", null)]
    [TestCase("{\"a\": 5}", 8, "header entry is not a JSON object", "a")]
    [TestCase("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "missing dtype", "a")]
    [TestCase("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype Q4", "a")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "missing shape", "a")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,8]}}", 8, "negative dimension -1", "a")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8, "shape must be an array of integers", "a")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "missing data_offsets", "a")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "data_offsets must be two non-negative integers", "a")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,\"8\"]}}", 8, "data_offsets must be two non-negative integers", "a")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8, "begin 8 is after end 0", "a")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 8, "extend beyond the data region of 8 bytes", "a")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 12, "span 8 bytes but shape [3] of F32 needs 12 bytes", "a")]
    [TestCase("{\"a\":" + Ok + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap", "b")]
    [TestCase("{\"a\":" + Ok + ",\"a\":" + Ok + "}", 8, "appears twice", "a")]
    [TestCase("{\"__metadata__\":\"pt\",\"a\":" + Ok + "}", 8, "'__metadata__' must be a map of strings to strings, found String", null)]
    [TestCase("{\"__metadata__\":{\"format\":1},\"a\":" + Ok + "}", 8, "key 'format' has a Number value", null)]
    public void MalformedHeaderIsRejected(string header, int dataBytes, string expected, string? tensor)
    {
        RawSafeTensors.Write(_temp.File("bad.safetensors"), header, new byte[dataBytes]);
        var e = OpenFails("bad.safetensors");
        Assert.That(e.Message, Does.Contain(expected));
        if (tensor is not null)
            Assert.That(e.Message, Does.Contain($"'{tensor}'"));
    }

    [Test]
    public void EveryMalformedCaseHasItsOwnMessage()
    {
        // Distinct substrings above would be pointless if two cases produced the same text.
        var messages = new List<string>();
        string[] headers =
        [
            "{\"a\":", "[1]", "{\"a\":5}",
            "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}",
            "{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}",
            "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1,2]}}",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}",
            "{\"a\":" + Ok + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
            "{\"__metadata__\":[],\"a\":" + Ok + "}",
        ];
        foreach (var header in headers)
        {
            RawSafeTensors.Write(_temp.File("m.safetensors"), header, new byte[8]);
            messages.Add(OpenFails("m.safetensors").Message);
        }
        Assert.That(messages, Is.Unique);
    }
}
