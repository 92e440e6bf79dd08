using NUnit.Framework;
using Rose.Cuda.Forward;
using Rose.Data;
using Rose.Modeling;
using Rose.Pruning;
using Rose.SafeTensors;
using Rose.Synthesis;
using Rose.Tests.Native;
using Rose.Tests.Pruning;
using Rose.Tests.Support;
using static Rose.Tests.Cuda.CudaTestSupport;

namespace Rose.Tests.Cuda;

/// <summary>What one matrix's prune asks of the driver, counted by the CPU emulator's census: its
/// blocking calls (synchronizations, blocking copies, copies through pageable memory, frees, which
/// synchronize the device) and its allocations must not grow with the matrix's columns. A round trip
/// to the host per OBS block or per column would leave an H200 idle between kernels thousands of times
/// per 7B layer, and no CPU-side test can time that. Likewise a layer's calibration forward and
/// statistics must not round-trip per calibration window. Emulator only: a GPU keeps no census.</summary>
[TestFixture, Category("Gpu")]
public sealed class DeviceRoundTripTests
{
    private static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData(PruneMethod.SparseGpt, "0.7");
        yield return new TestCaseData(PruneMethod.SparseGpt, "2:4");
        yield return new TestCaseData(PruneMethod.Rose, "0.7");
        yield return new TestCaseData(PruneMethod.Rose, "2:4");
        yield return new TestCaseData(PruneMethod.Wanda, "0.5");
        yield return new TestCaseData(PruneMethod.Magnitude, "0.5");
    }

    [TestCaseSource(nameof(Cases))]
    public void BlockingCallsAndAllocationsOfAMatrixDoNotGrowWithItsColumns(PruneMethod method, string spec)
    {
        var backend = Backend();
        if (!GpuTestEnvironment.OnEmulator) Assert.Ignore("the census counts the CPU emulator's driver calls; a GPU keeps none");
        var pattern = spec.Contains(':') ? NmPattern.Parse(spec) : (NmPattern?)null;
        double p = pattern is null ? double.Parse(spec, System.Globalization.CultureInfo.InvariantCulture) : 0;
        var options = new PruneOptions(method, p, pattern, BlockSize: 128);

        // 2 and 8 OBS blocks (the last one partial); the first run also builds what a backend keeps.
        Prune(backend, 1000, options);
        var (narrowBlocking, narrowAllocations, narrowReordered) = Prune(backend, 256, options);
        var (wideBlocking, wideAllocations, wideReordered) = Prune(backend, 1000, options);

        TestContext.Out.WriteLine($"per matrix: {Describe(narrowBlocking)}; {narrowAllocations} allocations");
        Assert.That(wideReordered, Is.EqualTo(narrowReordered), "both shapes take the same ROSE branch");
        Assert.That(narrowBlocking.Values.Sum(), Is.GreaterThan(0), "the census saw the prune");
        Assert.That(Describe(wideBlocking), Is.EqualTo(Describe(narrowBlocking)), "blocking calls, 1000 columns vs 256");
        Assert.That(wideAllocations, Is.EqualTo(narrowAllocations), "allocations, 1000 columns vs 256");
    }

    [Test]
    public void BlockingCallsAndAllocationsOfALayerForwardDoNotGrowWithTheWindows()
    {
        var backend = Backend();
        if (!GpuTestEnvironment.OnEmulator) Assert.Ignore("the census counts the CPU emulator's driver calls; a GPU keeps none");
        using var model = LlamaModel.Open(BundledSample.ModelDirectory);
        var tokens = model.Tokenizer.Encode(File.ReadAllText(BundledSample.CalibrationText), addBos: true);
        var layer = model.LoadLayer(0);

        (Dictionary<string, long> Blocking, long Allocations) Census(int windows)
        {
            using var runner = new CudaCalibrationRunner(model, CalibrationSampler.Sequential(tokens, windows, 32), backend);
            backend.Synchronize();
            EmulatorDriver.ResetCensus();
            var stats = runner.CollectStatistics(layer, backend);
            foreach (var s in stats.Values) s.Dispose();
            runner.Advance(layer);
            return Summarize(EmulatorDriver.Census());
        }

        Census(6);
        var (fewBlocking, fewAllocations) = Census(2);
        var (manyBlocking, manyAllocations) = Census(6);
        TestContext.Out.WriteLine($"per layer: {Describe(fewBlocking)}; {fewAllocations} allocations");
        Assert.That(fewBlocking.Values.Sum(), Is.GreaterThan(0), "the census saw the layer");
        Assert.That(Describe(manyBlocking), Is.EqualTo(Describe(fewBlocking)), "blocking calls, 6 windows vs 2");
        Assert.That(manyAllocations, Is.EqualTo(fewAllocations), "allocations, 6 windows vs 2");
    }

    /// <summary>A bf16 layer's whole device round (statistics forward, its seven linears pruned where the
    /// runner holds them, the pruned forward) moves its weights across PCIe once each way, in the model's
    /// dtype: up for the statistics forward, down for the checkpoint. The route before moved them up in
    /// bf16, up and down again in fp32 for pruning and up once more for the next forward: 4× up, 2× down.</summary>
    [Test]
    public void APrunedLayerCrossesPcieOnceEachWay()
    {
        var backend = Backend();
        if (!GpuTestEnvironment.OnEmulator) Assert.Ignore("the census counts the CPU emulator's driver calls; a GPU keeps none");
        var dir = TinyModelFactory.TempDir("pcie");
        try
        {
            string modelDir = Path.Combine(dir, "model");
            SyntheticCheckpoint.Write(SyntheticArchitecture.Tiny with { Layers = 1 }, DType.BF16, modelDir, seed: 2);
            using var model = LlamaModel.Open(modelDir);
            var tokens = model.Tokenizer.Encode(File.ReadAllText(BundledSample.CalibrationText), addBos: true);
            using var runner = new CudaCalibrationRunner(model, CalibrationSampler.Sequential(tokens, 2, 32), backend);
            var layer = model.LoadLayer(0);
            var options = new PruneOptions(PruneMethod.Rose, 0.7, null);
            backend.Synchronize();
            EmulatorDriver.ResetCensus();
            var stats = runner.CollectStatistics(layer, backend);
            try
            {
                foreach (var kind in LinearKinds.All)
                {
                    var linear = layer[kind];
                    MatrixPruner.Prune(backend, linear.Weight, linear.OutFeatures, linear.InFeatures, stats[kind.InputGroup()], options,
                        runner.ResidentWeight(layer, kind));
                }
            }
            finally
            {
                foreach (var s in stats.Values) s.Dispose();
            }
            runner.Advance(layer);
            var census = EmulatorDriver.Census();
            long Bytes(string prefix) => census.Where(e => e.Key.StartsWith(prefix, StringComparison.Ordinal)).Sum(e => e.Value.Amount);
            long up = Bytes("copy HtoD"), down = Bytes("copy DtoH");
            long weights = LinearKinds.All.Sum(k => (long)layer[k].OutFeatures * layer[k].InFeatures) * DType.BF16.ElementSize();
            TestContext.Out.WriteLine($"layer weights {weights} B in bf16; host→device {up} B, device→host {down} B");
            Assert.That(up, Is.GreaterThanOrEqualTo(weights), "the layer went up once");
            Assert.That(down, Is.GreaterThanOrEqualTo(weights), "the pruned layer came down once");
            // Besides the weights: norm vectors, permutations, a few statistics read back.
            Assert.That(up, Is.LessThan(weights * 1.1), "host→device bytes");
            Assert.That(down, Is.LessThan(weights * 1.1), "device→host bytes");
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>Prunes a 64 × <paramref name="cols"/> matrix whose block losses differ enough for ROSE
    /// to reorder; returns the census of the prune: blocking calls and allocation count by kind.</summary>
    private static (Dictionary<string, long> Blocking, long Allocations, bool? Reordered) Prune(IPruningBackend backend, int cols, PruneOptions options)
    {
        const int rows = 64;
        var rng = new Random(cols);
        var w = PruningTestData.Gaussian(rng, rows * cols);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) w[r * cols + c] *= MathF.Pow(8f, (c / 128) % 3);
        using var stats = new LayerInputStatistics(backend, cols);
        foreach (var x in PruningTestData.Sequences(rng, 2, 2 * cols, cols))
            stats.Fold(x, 2 * cols);
        backend.Synchronize();

        EmulatorDriver.ResetCensus();
        var result = MatrixPruner.Prune(backend, w, rows, cols, stats, options);
        var (blocking, allocations) = Summarize(EmulatorDriver.Census());
        return (blocking, allocations, result.Reordered);
    }

    /// <summary>A driver census as the assertions compare it: blocking calls by kind, and the allocation count.</summary>
    private static (Dictionary<string, long> Blocking, long Allocations) Summarize(Dictionary<string, (long Calls, long Amount)> census) =>
        (census.Where(e => IsBlocking(e.Key)).ToDictionary(e => e.Key, e => e.Value.Calls),
         census.Where(e => e.Key.StartsWith("alloc", StringComparison.Ordinal)).Sum(e => e.Value.Calls));

    private static string Describe(Dictionary<string, long> counts) =>
        string.Join("; ", counts.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key} ×{e.Value}"));

    private static bool IsBlocking(string what) =>
        what.StartsWith("sync", StringComparison.Ordinal) || what.StartsWith("free", StringComparison.Ordinal)
        || what.Contains("(blocks)", StringComparison.Ordinal) || what.EndsWith("pageable", StringComparison.Ordinal);
}
