using NUnit.Framework;
using Rose.Cuda;
using Rose.Native;
using Rose.Pruning;
using Rose.Pruning.Cpu;
using Rose.SafeTensors;
using static Rose.Tests.Cuda.CudaTestSupport;

namespace Rose.Tests.Cuda;

/// <summary>The device pipeline's fold of a batch of windows with one GEMM in the model's dtype
/// against the CPU reference folding the same (widened) windows one at a time.</summary>
[TestFixture, NonParallelizable]
public class BatchedFoldTests
{
    [Category("Gpu")]
    [TestCase(DType.BF16, 200)]
    [TestCase(DType.F16, 200)]
    [TestCase(DType.F32, 131)]
    [TestCase(DType.BF16, 33)]
    [TestCase(DType.BF16, 2100)]
    [TestCase(DType.F16, 4099)]
    public void BatchesOfWindowsFoldLikeOneWindowAtATime(DType dtype, int cols)
    {
        var gpu = Backend();
        using var cpu = new CpuBackend();
        int tokens = cols > 1000 ? 9 : 37;
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
        int asymmetric = 0;
        for (int i = 0; i < cols; i++)
            for (int j = 0; j < i; j++)
                if (hd[i * cols + j] != hd[j * cols + i]) asymmetric++;
        Assert.That(asymmetric, Is.EqualTo(0), "H exactly symmetric");
        foreach (var stat in new[] { ScoreStatistic.Official, ScoreStatistic.Mean })
        {
            var s = reference.DownloadScale(stat);
            // Norms in double on both sides, rounded to fp32 at the same steps.
            AssertClose(s, device.DownloadScale(stat), 1e-6 * MaxAbs(s), $"{dtype} s {stat}");
        }
        Assert.That(hd[5 * cols + 5], Is.EqualTo(0f), "a dead input column stays dead");
    }

    [TestCase(33, new[] { 0, 33 })]
    [TestCase(2100, new[] { 0, 1048, 2100 })]
    [TestCase(11008, new[] { 0, 1376, 2752, 4128, 5504, 6880, 8256, 9632, 11008 })]
    public void FoldPanelsAreAlignedAndCoverTheColumns(int cols, int[] expected)
    {
        var panels = CudaBackend.FoldPanels(cols);
        Assert.That(panels, Is.EqualTo(expected));
        Assert.That(panels.Take(panels.Length - 1).All(b => b % 8 == 0), Is.True);
    }
}
