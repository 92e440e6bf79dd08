using NUnit.Framework;
using Rose.Native;
using Rose.Pruning;
using Rose.Pruning.Cpu;
using Rose.SafeTensors;
using static Rose.Tests.Cuda.CudaTestSupport;

namespace Rose.Tests.Cuda;

/// <summary>The device pipeline's fold of a batch of windows with one GEMM in the model's dtype
/// against the CPU reference folding the same (widened) windows one at a time.</summary>
[TestFixture, Category("Gpu"), NonParallelizable]
public class BatchedFoldTests
{
    [TestCase(DType.BF16, 200)]
    [TestCase(DType.F16, 200)]
    [TestCase(DType.F32, 131)]
    [TestCase(DType.BF16, 33)]
    public void BatchesOfWindowsFoldLikeOneWindowAtATime(DType dtype, int cols)
    {
        var gpu = Backend();
        using var cpu = new CpuBackend();
        const int tokens = 37;
        int[] batches = [3, 1, 2];
        int windows = batches.Sum();
        var rng = new Random(cols);
        var values = new float[windows * tokens * cols];
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)(rng.NextDouble() * 2 - 1) * (i % cols == 5 ? 0f : 1f) * (1 + i % 7);
        // The values the device sees: stored in dtype and widened back.
        var stored = new byte[values.Length * dtype.ElementSize()];
        FloatConversion.FromSingle(dtype, values, stored);
        FloatConversion.ToSingle(dtype, stored, values);

        using var reference = new LayerInputStatistics(cpu, cols);
        for (int w = 0; w < windows; w++)
            reference.Fold(values.AsSpan(w * tokens * cols, tokens * cols), tokens);

        using var device = new LayerInputStatistics(gpu, cols);
        using var x = DeviceBuffer<byte>.FromHost(gpu.Context, stored);
        int first = 0;
        foreach (int count in batches)
        {
            var at = x.Pointer.AddBytes((long)first * tokens * cols * dtype.ElementSize());
            device.FoldManyWith(count, (s, k) =>
                gpu.FoldWindowsOnDevice(s.Hessian, s.OfficialScale, s.MeanScale, at, dtype, count, tokens, k));
            first += count;
        }

        Assert.That(device.SampleCount, Is.EqualTo(windows));
        var h = reference.DownloadHessian();
        var hd = device.DownloadHessian();
        AssertClose(h, hd, 1e-5 * MaxAbs(h), $"{dtype} H");
        for (int i = 0; i < cols; i++)
            for (int j = 0; j < i; j++)
                Assert.That(hd[i * cols + j], Is.EqualTo(hd[j * cols + i]), $"H symmetric at ({i}, {j})");
        foreach (var stat in new[] { ScoreStatistic.Official, ScoreStatistic.Mean })
        {
            var s = reference.DownloadScale(stat);
            // Norms in double on both sides, rounded to fp32 at the same steps.
            AssertClose(s, device.DownloadScale(stat), 1e-6 * MaxAbs(s), $"{dtype} s {stat}");
        }
        Assert.That(hd[5 * cols + 5], Is.EqualTo(0f), "a dead input column stays dead");
    }
}
