using NUnit.Framework;
using Rose.Pruning;
using Rose.Pruning.Cpu;

namespace Rose.Tests.Pruning;

[TestFixture]
public class SparseGptTests
{
    // Tolerance: the implementation runs the OBS in float32 (as the official code does) against a
    // double reference. H is a well-conditioned XᵀX (tokens ≥ 1.5·cols, 1 % damping), so U carries a
    // relative error of ~1e-6 and each weight takes up to cols float updates. Observed worst case
    // over these shapes is 6.1e-7·max|W|; 2e-5·max|W| leaves ~30× headroom while any wrong update,
    // block boundary or mask moves weights by O(|W|) and fails.
    private const double RelativeTolerance = 2e-5;

    public static IEnumerable<TestCaseData> Shapes()
    {
        // rows, cols, block, sparsity, pattern (null = unstructured), dead columns
        yield return new TestCaseData(1, 1, 16, 0.5, null, 0);
        yield return new TestCaseData(1, 7, 16, 0.5, null, 0);
        yield return new TestCaseData(5, 16, 16, 0.7, null, 0);
        yield return new TestCaseData(13, 40, 16, 0.5, null, 0);      // partial last block (8)
        yield return new TestCaseData(8, 130, 128, 0.6, null, 0);     // partial last block (2)
        yield return new TestCaseData(37, 300, 128, 0.7, null, 0);
        yield return new TestCaseData(37, 300, 16, 0.5, null, 3);     // dead columns
        yield return new TestCaseData(20, 64, 16, 0.0, "2:4", 0);
        yield return new TestCaseData(9, 34, 16, 0.0, "2:4", 0);      // partial group of 2
        yield return new TestCaseData(37, 300, 128, 0.0, "4:8", 2);   // partial group of 4, dead columns
        yield return new TestCaseData(6, 50, 10, 0.0, "4:8", 0);      // B=10 rounds down to 8
    }

    [TestCaseSource(nameof(Shapes))]
    public void MatchesNaiveDoubleImplementation(int rows, int cols, int block, double sparsity, string? pattern, int deadCount)
    {
        var rng = new Random(rows * 1000 + cols + block);
        var nm = pattern is null ? (NmPattern?)null : NmPattern.Parse(pattern);
        var dead = new HashSet<int>(Enumerable.Range(0, deadCount).Select(i => (i * 37 + 5) % cols));
        using var backend = new CpuBackend();
        using var stats = PruningTestData.Statistics(backend, rng, cols, tokens: cols + cols / 2 + 4, sequences: 2, dead);
        var w = PruningTestData.Gaussian(rng, rows * cols);
        var original = (float[])w.Clone();

        var result = MatrixPruner.Prune(backend, w, rows, cols, stats,
            new PruneOptions(PruneMethod.SparseGpt, sparsity, nm, block));
        var reference = NaiveSparseGpt.Run(original, rows, cols, stats.DownloadHessian(), sparsity, nm, block, 0.01);

        double maxAbs = original.Max(v => Math.Abs(v));
        double maxErr = 0;
        for (int i = 0; i < w.Length; i++) maxErr = Math.Max(maxErr, Math.Abs(w[i] - reference.Weight[i]));
        TestContext.Out.WriteLine($"max |w − w_ref| / max|W| = {maxErr / maxAbs:E2}");
        for (int i = 0; i < w.Length; i++)
        {
            Assert.That(w[i] == 0f, Is.EqualTo(reference.Pruned[i] || dead.Contains(i % cols)), $"mask at {i / cols},{i % cols}");
            Assert.That(w[i], Is.EqualTo(reference.Weight[i]).Within(RelativeTolerance * maxAbs), $"weight at {i / cols},{i % cols}");
        }
        Assert.That(result.Loss, Is.EqualTo(reference.Loss).Within(1e-3).Percent.Or.EqualTo(reference.Loss).Within(1e-9));
        Assert.That(result.DeadColumns, Is.EqualTo(dead.Count));
        Assert.That(result.NonPdEvents, Is.Zero);
        Assert.That(result.IdentityFallback, Is.False);
        Assert.That(result.DampUsed, Is.EqualTo(0.01));
        foreach (int j in dead)
            for (int r = 0; r < rows; r++) Assert.That(w[r * cols + j], Is.EqualTo(0f), "dead column must be zero");
        if (nm is { } p) PruningTestData.AssertNmValid(w, rows, cols, p);
    }

    [Test]
    public void ExplicitBlocksMustCoverColumns()
    {
        using var backend = new CpuBackend();
        using var w = backend.Allocate(2, 10);
        using var h = backend.Allocate(10, 10);
        Assert.Throws<ArgumentException>(() => SparseGpt.Run(backend, w, h, [4, 4], new MaskRule(0.5, null), 0.01));
        Assert.Throws<ArgumentException>(() => SparseGpt.Run(backend, w, h, [3, 7], new MaskRule(0, new NmPattern(2, 4)), 0.01));
    }

    [TestCase(128, null, 300, new[] { 128, 128, 44 })]
    [TestCase(10, "4:8", 20, new[] { 8, 8, 4 })]
    [TestCase(3, "2:4", 8, new[] { 4, 4 })]
    public void StandardBlocksRoundToM(int block, string? pattern, int cols, int[] expected)
    {
        var nm = pattern is null ? (NmPattern?)null : NmPattern.Parse(pattern);
        Assert.That(SparseGpt.StandardBlocks(cols, block, nm), Is.EqualTo(expected));
    }
}

[TestFixture]
public class NonPositiveDefiniteTests
{
    [Test]
    public void NegativeIdentityFallsBackToIdentityAfterThreeRetries()
    {
        int rows = 6, cols = 20;
        using var backend = new CpuBackend();
        var h = new float[cols * cols];
        for (int j = 0; j < cols; j++) h[j * cols + j] = -1f;
        var s = Enumerable.Repeat(1f, cols).ToArray();
        using var stats = LayerInputStatistics.FromHost(backend, h, s, s, cols, 1);
        var w = PruningTestData.Gaussian(new Random(3), rows * cols);
        var original = (float[])w.Clone();
        MatrixPruneResult? result = null;
        Assert.DoesNotThrow(() => result = MatrixPruner.Prune(backend, w, rows, cols, stats,
            new PruneOptions(PruneMethod.SparseGpt, 0.5, null, BlockSize: 8)));
        Assert.That(result!.NonPdEvents, Is.EqualTo(4));
        Assert.That(result.IdentityFallback, Is.True);
        Assert.That(result.DampUsed, Is.EqualTo(10.0).Within(1e-12));

        // With U = I the OBS has no cross-column updates: every block keeps its weights untouched
        // except the ⌊p·numel⌋+1 smallest |W|, and the loss is Σ pruned w²/2.
        double expectedLoss = 0;
        foreach (var (c0, width) in new[] { (0, 8), (8, 8), (16, 4) })
        {
            var block = new List<float>();
            for (int r = 0; r < rows; r++)
                for (int c = c0; c < c0 + width; c++) block.Add(Math.Abs(original[r * cols + c]));
            var sorted = block.OrderBy(v => v).ToList();
            float t = sorted[(int)Math.Floor(0.5 * sorted.Count)];
            for (int r = 0; r < rows; r++)
                for (int c = c0; c < c0 + width; c++)
                {
                    float o = original[r * cols + c];
                    bool prune = Math.Abs(o) <= t;
                    Assert.That(w[r * cols + c], Is.EqualTo(prune ? 0f : o));
                    if (prune) expectedLoss += (double)o * o / 2;
                }
        }
        Assert.That(result.Loss, Is.EqualTo(expectedLoss).Within(1e-4).Percent);
    }

    [Test]
    public void RankDeficientWithZeroDampRetriesAndRecovers()
    {
        int rows = 4, cols = 3;
        float[] v = [1, 2, 3];
        var h = new float[cols * cols];
        for (int i = 0; i < cols; i++)
            for (int j = 0; j < cols; j++) h[i * cols + j] = v[i] * v[j];
        using var backend = new CpuBackend();
        using var stats = LayerInputStatistics.FromHost(backend, h, v, v, cols, 1);
        var w = PruningTestData.Gaussian(new Random(5), rows * cols);
        var result = MatrixPruner.Prune(backend, w, rows, cols, stats, new PruneOptions(PruneMethod.SparseGpt, 0.5, null, Damp: 0));
        Assert.That(result.NonPdEvents, Is.EqualTo(1));
        Assert.That(result.IdentityFallback, Is.False);
        Assert.That(result.DampUsed, Is.EqualTo(0.01));
        Assert.That(w.All(float.IsFinite), Is.True);
    }

    [Test]
    public void RoseAlsoSurvivesNonPositiveDefiniteHessian()
    {
        int rows = 5, cols = 12;
        var h = new float[cols * cols];
        for (int j = 0; j < cols; j++) h[j * cols + j] = -2f;
        var s = Enumerable.Range(1, cols).Select(i => (float)i).ToArray();
        using var backend = new CpuBackend();
        using var stats = LayerInputStatistics.FromHost(backend, h, s, s, cols, 1);
        var w = PruningTestData.Gaussian(new Random(9), rows * cols);
        var result = MatrixPruner.Prune(backend, w, rows, cols, stats, new PruneOptions(PruneMethod.Rose, 0.5, null, BlockSize: 4));
        Assert.That(result.IdentityFallback, Is.True);
        Assert.That(result.NonPdEvents, Is.EqualTo(4));
    }
}
