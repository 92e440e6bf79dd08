using NUnit.Framework;
using Rose.SafeTensors;

namespace Rose.Tests.SafeTensors;

[TestFixture]
public class DTypeTests
{
    [TestCase(DType.F64, "F64", 8)]
    [TestCase(DType.F32, "F32", 4)]
    [TestCase(DType.F16, "F16", 2)]
    [TestCase(DType.BF16, "BF16", 2)]
    [TestCase(DType.I64, "I64", 8)]
    [TestCase(DType.I32, "I32", 4)]
    [TestCase(DType.I16, "I16", 2)]
    [TestCase(DType.I8, "I8", 1)]
    [TestCase(DType.U8, "U8", 1)]
    [TestCase(DType.Bool, "BOOL", 1)]
    public void StringAndSizeRoundTrip(DType dtype, string text, int size)
    {
        Assert.That(dtype.ToSafeTensorsString(), Is.EqualTo(text));
        Assert.That(DTypes.ParseSafeTensors(text), Is.EqualTo(dtype));
        Assert.That(dtype.ElementSize(), Is.EqualTo(size));
    }

    [TestCase("f32")]
    [TestCase("Bool")]
    [TestCase("F8_E4M3")]
    public void UnknownSafeTensorsDtypeIsRejected(string text)
    {
        Assert.That(DTypes.TryParseSafeTensors(text, out _), Is.False);
        var e = Assert.Throws<RoseException>(() => DTypes.ParseSafeTensors(text));
        Assert.That(e!.Message, Does.Contain(text));
    }

    [TestCase("float32", DType.F32)]
    [TestCase("float16", DType.F16)]
    [TestCase("bfloat16", DType.BF16)]
    [TestCase("torch.bfloat16", DType.BF16)]
    public void TorchDtypeParses(string text, DType expected) =>
        Assert.That(DTypes.ParseTorchDtype(text), Is.EqualTo(expected));

    [Test]
    public void UnknownTorchDtypeIsRejected()
    {
        var e = Assert.Throws<RoseException>(() => DTypes.ParseTorchDtype("int4"));
        Assert.That(e!.Message, Does.Contain("int4"));
    }
}
