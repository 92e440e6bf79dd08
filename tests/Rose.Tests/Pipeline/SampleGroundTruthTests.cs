using NUnit.Framework;
using Rose.Pipeline;
using Rose.Pruning;
using Rose.Pruning.Cpu;
using Rose.Tests.Support;

namespace Rose.Tests.Pipeline;

/// <summary>The official SparseGPT code gives 24.2058 (50%) and 144.3010 (70%) on the bundled sample
/// with sequential calibration 64 × 512 from tinystories-calib.txt, evaluated at seqlen 512.</summary>
[TestFixture]
public class SampleGroundTruthTests
{
    [TestCase(0.5, 24.2058)]
    [TestCase(0.7, 144.3010)]
    public void SparseGptMatchesOfficialPerplexity(double sparsity, double official)
    {
        var report = PruneSample(PruneMethod.SparseGpt, sparsity);
        Assert.That(report.PerplexityAfter!.Value, Is.EqualTo(official).Within(1).Percent);
        Assert.That(report.OverallSparsity, Is.EqualTo(sparsity).Within(0.002));
    }

    [Test]
    public void RoseIsNoWorseThanSparseGptAtSeventyPercent()
    {
        // The paper's claim on this model: the reordering lowers the perplexity of SparseGPT (144.3).
        var report = PruneSample(PruneMethod.Rose, 0.7);
        Assert.That(report.PerplexityAfter!.Value, Is.LessThan(144.3));
    }

    internal static PruneReport PruneSample(PruneMethod method, double sparsity, NmPattern? pattern = null)
    {
        var dir = TinyModelFactory.TempDir("gt");
        try
        {
            using var backend = new CpuBackend();
            return new PruningPipeline(backend, TextWriter.Null).Run(new PruneRunOptions
            {
                ModelDirectory = BundledSample.ModelDirectory,
                OutputDirectory = Path.Combine(dir, "out"),
                Prune = new PruneOptions(method, sparsity, pattern),
                CalibrationPath = BundledSample.CalibrationText,
                Sampling = CalibrationSampling.Sequential,
                NSamples = 64,
                SeqLen = 512,
                EvalPath = BundledSample.EvalText,
                EvalSeqLen = 512,
                EvalBefore = false,
            });
        }
        finally { Directory.Delete(dir, true); }
    }
}
