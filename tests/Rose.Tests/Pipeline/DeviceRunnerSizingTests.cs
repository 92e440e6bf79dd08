using NUnit.Framework;
using Rose.Cuda.Forward;
using Rose.Pipeline;
using Rose.SafeTensors;
using static Rose.Tests.Pipeline.PublishedShapes;

namespace Rose.Tests.Pipeline;

/// <summary>The device runner's sizes and its out-of-memory advice, which decide on the host whether
/// a GPU run starts at all and how its states are sliced (no GPU needed).</summary>
[TestFixture]
public class DeviceRunnerSizingTests
{
    private const long GiB = 1L << 30;
    private const long H200 = 140 * GiB;

    [Test]
    public void StatesOfTheSevenBillionCalibrationAreExactlyTwoGibibytesWithoutOverflow()
    {
        // 128 × 2048 × 4096 × 2 bytes = 2^31, one past int.MaxValue: every offset must be a long.
        Assert.That(CudaCalibrationRunner.HostBytes(Llama2_7B, DType.BF16, 128, 2048), Is.EqualTo(2 * GiB));
        Assert.That(CudaCalibrationRunner.HostBytes(Llama2_7B, DType.F32, 128, 2048), Is.EqualTo(4 * GiB));
        Assert.That(CudaCalibrationRunner.DeviceBytes(Llama2_7B, DType.BF16, 128, 2048, H200), Is.GreaterThan(2 * GiB));
    }

    /// <summary>The offloaded path moves one batch of windows through a span (at most int.MaxValue bytes),
    /// so the batch the scratch budget allows must stay below that for every shape and dtype.</summary>
    [Test]
    public void OneBatchOfStatesFitsOneSpan()
    {
        foreach (var shape in new[] { Llama2_7B, Llama2_13B, Llama2_70B, Llama3_8B })
            foreach (var dtype in new[] { DType.F32, DType.BF16, DType.F16 })
                foreach (int seqLen in new[] { 128, 2048, 4096, 8192 })
                {
                    int batch = CudaCalibrationRunner.BatchWindows(shape, dtype, 4096, seqLen, H200);
                    long bytes = batch * CudaCalibrationRunner.HostBytes(shape, dtype, 1, seqLen);
                    Assert.That(batch, Is.GreaterThanOrEqualTo(1));
                    Assert.That(bytes, Is.LessThanOrEqualTo(int.MaxValue), $"{shape.Hidden} {dtype} seqlen {seqLen}: batch {batch}");
                    Assert.That(batch * seqLen, Is.LessThanOrEqualTo(int.MaxValue / Math.Max(shape.Intermediate, shape.QDim)),
                        "a batch's widest activation stays under 2^31 elements");
                }
    }

    [TestCase(3L << 30, "3.00 GiB")]
    [TestCase((5L << 20) + (1L << 19), "5.5 MiB")]
    [TestCase(1536L, "1.5 KiB")]
    [TestCase(100L, "100 B")]
    public void MemoryFiguresKeepTheirDigitsAtEverySize(long bytes, string expected) =>
        Assert.That(ByteSize.Format(bytes), Is.EqualTo(expected));

    [Test]
    public void RunThatFitsGetsNoAdvice()
    {
        Assert.That(CalibrationRunners.DeviceMemoryShortfall(Llama2_7B, DType.BF16, 128, 2048, offload: false, free: H200, total: H200), Is.Null);
    }

    /// <summary>The papers' 7B calibration (128 × 2048, bf16) on a 12 GiB GPU with 11.5 GiB free: the batch
    /// that fills the H200's 8 GiB scratch budget would not fit, so the forward takes fewer windows at a time
    /// and the run fits with the activations resident.</summary>
    [Test]
    public void ASmallerGpuRunsFewerWindowsAtATimeInsteadOfBeingRefused()
    {
        long small = 12 * GiB, free = 23 * GiB / 2;
        Assert.That(CudaCalibrationRunner.DeviceBytes(Llama2_7B, DType.BF16, 128, 2048, H200), Is.GreaterThan(free * 0.85),
            "the H200's batch on the smaller GPU");
        int batch = CudaCalibrationRunner.BatchWindows(Llama2_7B, DType.BF16, 128, 2048, small);
        Assert.That(batch, Is.InRange(1, CudaCalibrationRunner.BatchWindows(Llama2_7B, DType.BF16, 128, 2048, H200) - 1));
        Assert.That(CalibrationRunners.DeviceMemoryShortfall(Llama2_7B, DType.BF16, 128, 2048, offload: false, free, small), Is.Null);
        // Offloaded, the states leave the GPU but not the batch's sizing: the fold must add up the same way.
        Assert.That(CudaCalibrationRunner.DeviceBytes(Llama2_7B, DType.BF16, 128, 2048, small, offload: true),
            Is.EqualTo(CudaCalibrationRunner.DeviceBytes(Llama2_7B, DType.BF16, 128, 2048, small) - CudaCalibrationRunner.HostBytes(Llama2_7B, DType.BF16, 128, 2048)));
    }

    /// <summary>A GPU with room to spare keeps the whole scratch budget per batch.</summary>
    [Test]
    public void ALargeGpuFillsTheScratchBudget()
    {
        long perWindow = CudaCalibrationRunner.DeviceBytes(Llama2_7B, DType.BF16, 1, 2048, H200, offload: true)
            - CudaCalibrationRunner.LayerWorkingBytes(Llama2_7B, DType.BF16);
        Assert.That(CudaCalibrationRunner.BatchWindows(Llama2_7B, DType.BF16, 128, 2048, H200),
            Is.EqualTo(CudaCalibrationRunner.ScratchBudgetBytes / perWindow));
    }

    [Test]
    public void OffloadingIsAdvisedOnlyWhenItMakesTheRunFit()
    {
        long resident = CudaCalibrationRunner.DeviceBytes(Llama2_7B, DType.BF16, 1024, 2048, H200);
        long offloaded = CudaCalibrationRunner.DeviceBytes(Llama2_7B, DType.BF16, 1024, 2048, H200, offload: true);
        Assert.That(offloaded, Is.LessThan(resident - 10 * GiB));
        long free = (long)((offloaded + GiB) / 0.85);
        var why = CalibrationRunners.DeviceMemoryShortfall(Llama2_7B, DType.BF16, 1024, 2048, offload: false, free, H200);
        Assert.That(why, Does.Contain("--offload-activations (the GPU then needs"));
        Assert.That(CalibrationRunners.DeviceMemoryShortfall(Llama2_7B, DType.BF16, 1024, 2048, offload: true, free, H200), Is.Null);
    }

    [Test]
    public void LayerTooLargeForTheGpuSaysSoInsteadOfBlamingTheCalibration()
    {
        long layer = CudaCalibrationRunner.LayerWorkingBytes(Llama2_70B, DType.BF16);
        var why = CalibrationRunners.DeviceMemoryShortfall(Llama2_70B, DType.BF16, 128, 2048, offload: true, free: layer / 2, total: layer / 2);
        Assert.That(why, Does.Contain("one decoder layer"));
        Assert.That(why, Does.Not.Contain("--nsamples"));
        Assert.That(why, Does.Not.Contain("\n"));
    }

    [Test]
    public void OffloadedRunThatStillDoesNotFitAsksForFewerTokens()
    {
        long layer = CudaCalibrationRunner.LayerWorkingBytes(Llama2_7B, DType.BF16);
        long free = (long)((layer + GiB) / 0.85);
        var why = CalibrationRunners.DeviceMemoryShortfall(Llama2_7B, DType.BF16, 128, 2048, offload: true, free, H200);
        Assert.That(why, Does.Contain("lower --seqlen or --nsamples"));
        Assert.That(why, Does.Not.Contain("pass --offload-activations"));
    }
}
