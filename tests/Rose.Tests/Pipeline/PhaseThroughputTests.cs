using NUnit.Framework;
using Rose.Modeling;
using Rose.Pipeline;

namespace Rose.Tests.Pipeline;

[TestFixture]
public class PhaseThroughputTests
{
    [Test]
    public void LlamaTwoSevenBCountsAsByHand()
    {
        var shape = new ModelShape(4096, 11008, 32, 32, 128, 1e-5f);
        // Linear parameters per layer: q, k, v, o 4·4096² + gate, up, down 3·4096·11008.
        double linear = 4.0 * 4096 * 4096 + 3.0 * 4096 * 11008;
        Assert.That(PhaseThroughput.ForwardFlopPerToken(shape, 2048), Is.EqualTo(2 * linear + 2.0 * 2048 * 4096));
        Assert.That(PhaseThroughput.FoldFlopPerToken(shape), Is.EqualTo(2.0 * (3.0 * 4096 * 4096 + 11008.0 * 11008)));

        long tokens = 128L * 2048;
        var tflops = PhaseThroughput.Of(shape, 32, tokens, 2048, new Dictionary<string, double> { ["statistics"] = 100, ["forward"] = 0 });
        double expected = 32 * tokens * (PhaseThroughput.ForwardFlopPerToken(shape, 2048) + PhaseThroughput.FoldFlopPerToken(shape)) / 100 / 1e12;
        Assert.That(tflops["statistics"], Is.EqualTo(expected).Within(1e-9));
        Assert.That(tflops.ContainsKey("forward"), Is.False, "a phase that took no time has no rate");
    }
}
