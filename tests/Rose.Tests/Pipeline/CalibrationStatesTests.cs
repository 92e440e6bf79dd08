using NUnit.Framework;
using Rose.Modeling;
using Rose.Pipeline;
using Rose.SafeTensors;
using Rose.Tests.Support;

namespace Rose.Tests.Pipeline;

/// <summary>Saved calibration activations: in the model's activation dtype, exact, and checked on load.</summary>
[TestFixture]
public class CalibrationStatesTests
{
    private string _dir = "";

    [SetUp] public void SetUp() => _dir = TinyModelFactory.TempDir("states");
    [TearDown] public void TearDown() { if (Directory.Exists(_dir)) Directory.Delete(_dir, true); }

    private static int[][] Windows(int count, int seqLen, int vocab) =>
        Enumerable.Range(0, count).Select(w => Enumerable.Range(0, seqLen).Select(t => (w * 31 + t * 7) % vocab).ToArray()).ToArray();

    [TestCase(DType.BF16)]
    [TestCase(DType.F16)]
    [TestCase(DType.F32)]
    public void StatesSaveInTheActivationDTypeAndResumeExactly(DType dtype)
    {
        var spec = new TinyModelSpec { DType = dtype, Layers = 2 };
        using var model = LlamaModel.Open(TinyModelFactory.Create(spec, Path.Combine(_dir, "model")));
        var windows = Windows(3, 12, spec.Vocab);
        using var runner = new CalibrationRunner(model, windows);
        runner.Advance(model.LoadLayer(0));
        using var saved = new MemoryStream();
        runner.SaveStates(saved);
        Assert.That(saved.Length, Is.EqualTo(24 + 3L * 12 * spec.Hidden * dtype.ElementSize()), "header + states in the model's dtype");

        using var restored = new CalibrationRunner(model, windows);
        saved.Position = 0;
        restored.LoadStates(saved);
        var layer1 = model.LoadLayer(1);
        runner.Advance(layer1);
        restored.Advance(model.LoadLayer(1));
        using var a = new MemoryStream();
        using var b = new MemoryStream();
        runner.SaveStates(a);
        restored.SaveStates(b);
        Assert.That(b.ToArray(), Is.EqualTo(a.ToArray()), "a restored runner continues exactly as the original");
    }

    [Test]
    public void StatesOfAnotherDTypeAreRefusedNamingBoth()
    {
        using var stream = new MemoryStream();
        CalibrationStates.WriteHeader(stream, 4, 16, 32, DType.F32);
        stream.Position = 0;
        var e = Assert.Throws<RoseException>(() => CalibrationStates.ReadHeader(stream, 4, 16, 32, DType.BF16));
        Assert.That(e!.Message, Does.Contain("4 windows × 16 tokens × 32 F32").And.Contain("4 × 16 × 32 BF16"));
    }

    [Test]
    public void AnOlderFormatIsRefusedSayingToStartOver()
    {
        using var stream = new MemoryStream("ROSESTS1\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"u8.ToArray());
        var e = Assert.Throws<RoseException>(() => CalibrationStates.ReadHeader(stream, 1, 1, 1, DType.F32));
        Assert.That(e!.Message, Does.Contain("run without --resume"));
    }
}
