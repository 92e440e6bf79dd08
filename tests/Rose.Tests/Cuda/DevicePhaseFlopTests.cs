using NUnit.Framework;
using Rose.Cuda.Forward;
using Rose.Data;
using Rose.Modeling;
using Rose.Pipeline;
using Rose.Tests.Native;
using static Rose.Tests.Cuda.CudaTestSupport;

namespace Rose.Tests.Cuda;

/// <summary>The report's TFLOP/s (and percent of peak) divide the flops <see cref="PhaseThroughput"/>
/// counts by the measured seconds; these tests hold those counts against the GEMMs a device run asks
/// cuBLAS for, counted by the CPU emulator's cuBLAS census, so a published figure neither credits
/// work that is not done nor hides work that is (a statistics pass running down_proj, whose output
/// nobody needs, would be a sixth of its linear flops wasted). Attention runs on Rose's own kernels
/// and is not in the census. Emulator only.</summary>
[TestFixture, Category("Gpu"), NonParallelizable]
public sealed class DevicePhaseFlopTests
{
    [Test]
    public void StatisticsAndForwardAskCublasForTheFlopsTheReportCounts()
    {
        var backend = Backend();
        if (!GpuTestEnvironment.OnEmulator) Assert.Ignore("the census counts the CPU emulator's cuBLAS calls; a GPU keeps none");
        using var model = LlamaModel.Open(BundledSample.ModelDirectory);
        var shape = model.Shape;
        // 3 × 32 tokens: a fold's depth (96) is no layer width (64, 32, 172), so depth tells folds from linears.
        const int windows = 3, seqLen = 32;
        long tokens = windows * seqLen;
        Assume.That(new[] { shape.Hidden, shape.QDim, shape.KvDim, shape.Intermediate }, Has.None.EqualTo((int)tokens));
        var ids = model.Tokenizer.Encode(File.ReadAllText(BundledSample.CalibrationText), addBos: true);
        using var runner = new CudaCalibrationRunner(model, CalibrationSampler.Sequential(ids, windows, seqLen), backend);
        var layer = model.LoadLayer(0);

        backend.Synchronize();
        EmulatorDriver.ResetGemmCensus();
        var stats = runner.CollectStatistics(layer, backend);
        foreach (var s in stats.Values) s.Dispose();
        var statistics = FlopsByDepth(EmulatorDriver.GemmCensus());
        EmulatorDriver.ResetGemmCensus();
        runner.Advance(layer);
        var forward = FlopsByDepth(EmulatorDriver.GemmCensus());

        // Linear flops per token, by input width: q, k, v, o, gate and up read the hidden width, down the intermediate.
        double hiddenInput = 2.0 * shape.Hidden * (2L * shape.QDim + 2L * shape.KvDim + 2L * shape.Intermediate);
        double down = 2.0 * shape.Intermediate * shape.Hidden;
        double attentionPerToken = 2.0 * seqLen * shape.QDim;
        Assert.That(shape.QDim, Is.EqualTo(shape.Hidden), "the sample's o_proj reads the hidden width");

        Assert.Multiple(() =>
        {
            Assert.That(statistics.GetValueOrDefault(shape.Hidden), Is.EqualTo(tokens * hiddenInput), "statistics: linears reading the hidden width");
            Assert.That(statistics.GetValueOrDefault(shape.Intermediate), Is.EqualTo(0), "statistics: no down_proj");
            Assert.That(forward.GetValueOrDefault(shape.Hidden), Is.EqualTo(tokens * hiddenInput), "forward: linears reading the hidden width");
            Assert.That(forward.GetValueOrDefault(shape.Intermediate), Is.EqualTo(tokens * down), "forward: down_proj");
            Assert.That(forward.Keys, Is.SubsetOf(new[] { shape.Hidden, shape.Intermediate }), "forward: nothing but linears");
        });

        // The report's counts: the forward's linears exactly; the fold at least its symmetric half and at
        // most the whole product (blocks on the diagonal are multiplied whole).
        double countedForward = tokens * (PhaseThroughput.ForwardFlopPerToken(shape, seqLen) - attentionPerToken);
        Assert.That(countedForward, Is.EqualTo((double)(forward.GetValueOrDefault(shape.Hidden) + forward.GetValueOrDefault(shape.Intermediate))).Within(1e-9).Percent);
        double countedFold = tokens * PhaseThroughput.FoldFlopPerToken(shape);
        double countedStatistics = tokens * (PhaseThroughput.StatisticsFlopPerToken(shape, seqLen) - attentionPerToken);
        Assert.That(countedStatistics - countedFold, Is.EqualTo((double)statistics.GetValueOrDefault(shape.Hidden)).Within(1e-9).Percent,
            "statistics: the linears the report counts");
        long folded = statistics.GetValueOrDefault((int)tokens);
        Assert.That(folded, Is.InRange(countedFold, 2 * countedFold), "statistics: the folds against the report's symmetric half");
        Assert.That(statistics.Keys, Is.SubsetOf(new[] { shape.Hidden, (int)tokens }), "statistics: nothing but linears and folds");
    }

    /// <summary>Flops by GEMM depth k, summed over the cuBLAS functions.</summary>
    private static Dictionary<int, long> FlopsByDepth(Dictionary<string, (long Calls, long Amount)> census)
    {
        var byDepth = new Dictionary<int, long>();
        foreach (var (what, (_, flops)) in census)
        {
            int k = int.Parse(what[(what.LastIndexOf("k=", StringComparison.Ordinal) + 2)..], System.Globalization.CultureInfo.InvariantCulture);
            byDepth[k] = byDepth.GetValueOrDefault(k) + flops;
        }
        return byDepth;
    }
}
