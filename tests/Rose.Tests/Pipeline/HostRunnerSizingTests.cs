using NUnit.Framework;
using Rose.Pipeline;
using static Rose.Tests.Pipeline.PublishedShapes;

namespace Rose.Tests.Pipeline;

/// <summary>How many calibration windows the CPU statistics pass runs side by side, and the host memory a CPU
/// prune is checked against before it starts.</summary>
[TestFixture]
public class HostRunnerSizingTests
{
    private const long GiB = 1L << 30;

    [Test]
    public void ASevenBillionWindowCapturesAboutTwoHundredMegabytes() =>
        Assert.That(CalibrationRunner.CaptureBytes(Llama2_7B, 2048), Is.EqualTo(2048L * (3 * 4096 + 4096 + 11008) * 4));

    [Test]
    public void EveryCoreGetsAWindowWhereAQuarterOfTheMemoryHoldsTheirCaptures()
    {
        int cores = Environment.ProcessorCount;
        long capture = CalibrationRunner.CaptureBytes(Llama2_7B, 2048);
        // 128 GiB available: a quarter holds 153 windows' captures, more than the run's 128.
        Assert.That(32 * GiB / capture, Is.EqualTo(153));
        Assert.That(CalibrationRunner.ParallelWindows(Llama2_7B, 2048, 128, 128 * GiB), Is.EqualTo(Math.Min(cores, 128)));
        // Little memory: the 1 GiB floor, four windows, fewer where there are fewer cores.
        int floor = CalibrationRunner.ParallelWindows(Llama2_7B, 2048, 128, 2 * GiB);
        Assert.That(floor, Is.EqualTo(Math.Min(cores, (int)(GiB / capture))));
        Assert.That(floor * capture, Is.LessThanOrEqualTo(GiB));
    }

    [Test]
    public void NeverMoreWindowsThanTheRunHasNorFewerThanOne()
    {
        Assert.That(CalibrationRunner.ParallelWindows(Llama2_7B, 2048, 1, 128 * GiB), Is.EqualTo(1));
        Assert.That(CalibrationRunner.ParallelWindows(Llama2_7B, 2048, 0, 128 * GiB), Is.EqualTo(1));
        // One window's capture larger than the budget still runs, alone.
        Assert.That(CalibrationRunner.ParallelWindows(Llama2_7B, 1 << 20, 128, 4 * GiB), Is.EqualTo(1));
    }

    /// <summary>A 7B layer: 202M fp32 weights (0.75 GiB) and as many for the next layer loading meanwhile, four
    /// Hessians (0.64 GiB) and down_proj's prune, whose 11008² Hessian is held three times over (1.35 GiB) beside two
    /// copies of an 11008 × 4096 matrix (0.34 GiB).</summary>
    [Test]
    public void ASevenBillionLayerNeedsAboutFourGibibytes()
    {
        long layer = CalibrationRunner.LayerWorkingBytes(Llama2_7B);
        long weights = (4L * 4096 * 4096 + 3L * 4096 * 11008) * 4;
        long hessians = (3L * 4096 * 4096 + 11008L * 11008) * 4;
        // This layer's weights and the next one's, loading while it prunes.
        Assert.That(layer, Is.GreaterThan(2 * weights + hessians + 3L * 11008 * 11008 * 4));
        Assert.That(layer, Is.InRange(3.7 * GiB, 3.95 * GiB));
    }

    [Test]
    public void ARunThatFitsIsNotRefused() =>
        Assert.That(CalibrationRunners.HostMemoryShortfall(2 * GiB, CalibrationRunner.LayerWorkingBytes(Llama2_7B), 32 * GiB), Is.Null);

    [Test]
    public void ALayerTooLargeForTheMachineSaysSoInsteadOfBlamingTheCalibration()
    {
        long layer = CalibrationRunner.LayerWorkingBytes(Llama2_70B);
        var why = CalibrationRunners.HostMemoryShortfall(4 * GiB, layer, 16 * GiB);
        Assert.That(why, Does.Contain("one decoder layer"));
        Assert.That(why, Does.Contain("--device cuda"));
        Assert.That(why, Does.Not.Contain("--nsamples"));
    }

    [Test]
    public void CalibrationCrowdingOutTheLayerAsksForFewerTokens()
    {
        long layer = CalibrationRunner.LayerWorkingBytes(Llama2_7B);
        // Each fits alone; together they do not.
        long available = (long)((layer + 3 * GiB) / CalibrationRunners.HeapShare);
        var why = CalibrationRunners.HostMemoryShortfall(4 * GiB, layer, available);
        Assert.That(why, Does.Contain("lower --nsamples or --seqlen"));
        Assert.That(CalibrationRunners.HostMemoryShortfall(20 * GiB, layer, 16 * GiB), Does.Contain("the calibration activations need"));
    }
}
