using NUnit.Framework;
using Rose.Modeling;
using Rose.Pipeline;

namespace Rose.Tests.Pipeline;

/// <summary>How many calibration windows the CPU statistics pass runs side by side.</summary>
[TestFixture]
public class HostRunnerSizingTests
{
    private static readonly ModelShape Llama2_7B = new(4096, 11008, 32, 32, 128, 1e-5f);
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
}
