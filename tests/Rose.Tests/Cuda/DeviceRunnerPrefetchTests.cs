using NUnit.Framework;
using Rose.Cuda.Forward;
using Rose.Modeling;
using static Rose.Tests.Cuda.CudaTestSupport;

namespace Rose.Tests.Cuda;

/// <summary>The device runner's prefetch (an upload on its own stream from a pool thread) and its
/// failure paths.</summary>
[TestFixture, Category("Gpu"), NonParallelizable]
public class DeviceRunnerPrefetchTests
{
    private static int[][] RandomWindows(int count, int seqLen, int vocab, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, seqLen).Select(_ => rng.Next(vocab)).ToArray()).ToArray();
    }

    /// <summary>The layer collected with its prefetched upload, with a prefetch of another layer (discarded)
    /// and with no prefetch: the same kernels on the same bytes, so the statistics agree to the bit.</summary>
    [Test]
    public void PrefetchedWeightsGiveTheSameStatisticsAsADirectUpload()
    {
        var gpu = Backend();
        using var model = LlamaModel.Open(BundledSample.ModelDirectory);
        var windows = RandomWindows(6, 64, model.Config.VocabSize, 1);
        using var direct = new CudaCalibrationRunner(model, windows, gpu);
        using var prefetched = new CudaCalibrationRunner(model, windows, gpu);
        using var mismatched = new CudaCalibrationRunner(model, windows, gpu);
        var layer0 = model.LoadLayer(0);
        var layer1 = model.LoadLayer(1);
        prefetched.Prefetch(Task.Run(() => layer0));
        mismatched.Prefetch(Task.FromResult(layer1));
        var a = direct.CollectStatistics(layer0, gpu);
        var b = prefetched.CollectStatistics(layer0, gpu);
        var c = mismatched.CollectStatistics(layer0, gpu);
        try
        {
            foreach (var group in a.Keys)
            {
                Assert.That(b[group].DownloadHessian(), Is.EqualTo(a[group].DownloadHessian()), $"prefetched {group}");
                Assert.That(c[group].DownloadHessian(), Is.EqualTo(a[group].DownloadHessian()), $"other layer prefetched {group}");
            }
        }
        finally
        {
            foreach (var s in a.Values.Concat(b.Values).Concat(c.Values)) s.Dispose();
        }
        // A prefetch nobody takes is settled and freed by Dispose.
        prefetched.Prefetch(Task.Run(() => layer1));
    }

    /// <summary>A runner whose construction fails part-way (a token outside the vocabulary, found once the
    /// states, the batch buffer and the embedding table are allocated) leaves no device memory behind.</summary>
    [Test]
    public void FailedConstructionReleasesItsDeviceMemory()
    {
        var gpu = Backend();
        using var model = LlamaModel.Open(BundledSample.ModelDirectory);
        // 2048 windows × 256 tokens × hidden: tens of MB of states, far above the driver's granularity.
        var windows = RandomWindows(2048, 256, model.Config.VocabSize, 2);
        windows[^1][3] = model.Config.VocabSize + 7;
        long statesBytes = CudaCalibrationRunner.HostBytes(model.Shape, CudaPerplexityEvaluator.DTypeOf(model), windows.Length, 256);
        gpu.Synchronize();
        long before = gpu.Context.MemoryInfo().Free;
        for (int i = 0; i < 3; i++)
            Assert.Throws<RoseException>(() => new CudaCalibrationRunner(model, windows, gpu).Dispose());
        long after = gpu.Context.MemoryInfo().Free;
        Assert.That(before - after, Is.LessThan(statesBytes / 2), $"free {before} before, {after} after three failed constructions");
    }
}
