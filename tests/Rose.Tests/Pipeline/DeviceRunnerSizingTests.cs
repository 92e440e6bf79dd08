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

    [Test]
    public void StatesOfTheSevenBillionCalibrationAreExactlyTwoGibibytesWithoutOverflow()
    {
        // 128 × 2048 × 4096 × 2 bytes = 2^31, one past int.MaxValue: every offset must be a long.
        Assert.That(CudaCalibrationRunner.HostBytes(Llama2_7B, DType.BF16, 128, 2048), Is.EqualTo(2 * GiB));
        Assert.That(CudaCalibrationRunner.HostBytes(Llama2_7B, DType.F32, 128, 2048), Is.EqualTo(4 * GiB));
        Assert.That(CudaCalibrationRunner.DeviceBytes(Llama2_7B, DType.BF16, 128, 2048), Is.GreaterThan(2 * GiB));
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
                    int batch = CudaCalibrationRunner.BatchWindows(shape, dtype, 4096, seqLen);
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
        Assert.That(CalibrationRunners.DeviceMemoryShortfall(Llama2_7B, DType.BF16, 128, 2048, offload: false, free: 140 * GiB), Is.Null);
    }

    [Test]
    public void OffloadingIsAdvisedOnlyWhenItMakesTheRunFit()
    {
        long resident = CudaCalibrationRunner.DeviceBytes(Llama2_7B, DType.BF16, 1024, 2048);
        long offloaded = CudaCalibrationRunner.DeviceBytes(Llama2_7B, DType.BF16, 1024, 2048, offload: true);
        Assert.That(offloaded, Is.LessThan(resident - 10 * GiB));
        long free = (long)((offloaded + GiB) / 0.85);
        var why = CalibrationRunners.DeviceMemoryShortfall(Llama2_7B, DType.BF16, 1024, 2048, offload: false, free);
        Assert.That(why, Does.Contain("--offload-activations (the GPU then needs"));
        Assert.That(CalibrationRunners.DeviceMemoryShortfall(Llama2_7B, DType.BF16, 1024, 2048, offload: true, free), Is.Null);
    }

    [Test]
    public void LayerTooLargeForTheGpuSaysSoInsteadOfBlamingTheCalibration()
    {
        long layer = CudaCalibrationRunner.LayerWorkingBytes(Llama2_70B, DType.BF16);
        var why = CalibrationRunners.DeviceMemoryShortfall(Llama2_70B, DType.BF16, 128, 2048, offload: true, free: layer / 2);
        Assert.That(why, Does.Contain("one decoder layer"));
        Assert.That(why, Does.Not.Contain("--nsamples"));
        Assert.That(why, Does.Not.Contain("\n"));
    }

    [Test]
    public void OffloadedRunThatStillDoesNotFitAsksForFewerTokens()
    {
        long layer = CudaCalibrationRunner.LayerWorkingBytes(Llama2_7B, DType.BF16);
        long free = (long)((layer + GiB) / 0.85);
        var why = CalibrationRunners.DeviceMemoryShortfall(Llama2_7B, DType.BF16, 128, 2048, offload: true, free);
        Assert.That(why, Does.Contain("lower --seqlen or --nsamples"));
        Assert.That(why, Does.Not.Contain("pass --offload-activations"));
    }
}
