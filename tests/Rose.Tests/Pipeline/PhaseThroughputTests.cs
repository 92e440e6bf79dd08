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
        var shape = PublishedShapes.Llama2_7B;
        // Linear parameters per layer: q, k, v, o 4·4096² + gate, up, down 3·4096·11008.
        double linear = 4.0 * 4096 * 4096 + 3.0 * 4096 * 11008;
        Assert.That(PhaseThroughput.ForwardFlopPerToken(shape, 2048), Is.EqualTo(2 * linear + 2.0 * 2048 * 4096));
        Assert.That(PhaseThroughput.FoldFlopPerToken(shape), Is.EqualTo(3.0 * 4096 * 4096 + 11008.0 * 11008));

        long tokens = 128L * 2048;
        var tflops = PhaseThroughput.Of(shape, 32, tokens, 2048, new Dictionary<string, double> { ["statistics"] = 100, ["forward"] = 0 });
        double statistics = PhaseThroughput.ForwardFlopPerToken(shape, 2048) - 2.0 * 11008 * 4096 + PhaseThroughput.FoldFlopPerToken(shape);
        Assert.That(PhaseThroughput.StatisticsFlopPerToken(shape, 2048), Is.EqualTo(statistics));
        double expected = 32 * tokens * statistics / 100 / 1e12;
        Assert.That(tflops["statistics"], Is.EqualTo(expected).Within(1e-9));
        Assert.That(tflops.ContainsKey("forward"), Is.False, "a phase that took no time has no rate");
    }

    [Test]
    public void PruningPhasesCountTheirMatrices()
    {
        var shape = PublishedShapes.Llama2_7B;
        var seconds = new Dictionary<string, double> { ["prune_cholesky"] = 2, ["prune_obs"] = 4, ["prune_ordering"] = 0.5 };
        MatrixReport Matrix(int rows, int cols, bool reordered) => new("w", 0, "mlp.down_proj", [rows, cols], 0.7, 1.0, 0.9, reordered,
            0.01, 0, false, 0, new Dictionary<string, double> { ["cholesky"] = 1, ["obs"] = 1 });
        var matrices = new[] { Matrix(4096, 11008, true), Matrix(11008, 4096, false) };
        var tflops = PhaseThroughput.Of(shape, 1, 0, 2048, seconds, matrices, 128);
        double cholesky = 2.0 / 3 * (Math.Pow(11008, 3) + Math.Pow(4096, 3));
        Assert.That(tflops["prune_cholesky"], Is.EqualTo(cholesky / 2 / 1e12).Within(1e-9));
        double obs = 4096.0 * 11008 * (11008 + 128) + 11008.0 * 4096 * (4096 + 128);
        Assert.That(tflops["prune_obs"], Is.EqualTo(obs / 4 / 1e12).Within(1e-9));
        Assert.That(tflops.ContainsKey("statistics"), Is.False, "no calibration tokens, no statistics rate");

        var gbps = PhaseThroughput.Bandwidth(matrices, seconds);
        double bytes = (6.0 * 4096 * 11008 + 2.0 * 11008 * 11008) * 4;   // only the reordered matrix
        Assert.That(gbps["prune_ordering"], Is.EqualTo(bytes / 0.5 / 1e9).Within(1e-9));
    }
}
