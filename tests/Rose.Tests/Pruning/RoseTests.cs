using NUnit.Framework;
using Rose.Pruning;
using Rose.Pruning.Cpu;

namespace Rose.Tests.Pruning;

[TestFixture]
public class RoseTests
{
    [TestCase(40, 64, 16)]
    [TestCase(40, 70, 16)]
    public void IdentityOrderingEqualsSparseGptBitwise(int rows, int cols, int block)
    {
        var rng = new Random(cols);
        using var backend = new CpuBackend();
        // Uniform statistic and i.i.d. weights: every block loses about the same, r ≪ 0.5.
        using var folded = PruningTestData.Statistics(backend, rng, cols, tokens: 2 * cols, sequences: 2);
        var s = Enumerable.Repeat(1f, cols).ToArray();
        using var stats = LayerInputStatistics.FromHost(backend, folded.DownloadHessian(), s, s, cols, 2);
        var w = PruningTestData.Gaussian(rng, rows * cols);
        // A partial last block is a block like any other: with fewer columns it would lose far less
        // and alone push r over 0.5, so its weights are scaled up to an even block loss.
        int tail = cols % block;
        if (tail != 0)
            for (int r = 0; r < rows; r++)
                for (int c = cols - tail; c < cols; c++) w[r * cols + c] *= (float)block / tail;
        var wRose = (float[])w.Clone();
        var wGpt = (float[])w.Clone();
        var rose = MatrixPruner.Prune(backend, wRose, rows, cols, stats, new PruneOptions(PruneMethod.Rose, 0.6, null, block));
        var gpt = MatrixPruner.Prune(backend, wGpt, rows, cols, stats, new PruneOptions(PruneMethod.SparseGpt, 0.6, null, block));
        Assert.That(rose.Reordered, Is.False);
        Assert.That(rose.RelativeRange, Is.LessThanOrEqualTo(0.5));
        Assert.That(wRose, Is.EqualTo(wGpt), "bitwise equal weights");
        Assert.That(rose.Loss, Is.EqualTo(gpt.Loss));
    }

    /// <summary>Independent ordering: block losses from a full sort of each block's scores.</summary>
    private static (double r, int[] perm, int[] widths) ReferenceOrder(float[] w, int rows, int cols, float[] s, int block, double p)
    {
        var score = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) score[r * cols + c] = Math.Abs(w[r * cols + c]) * MathF.Sqrt(s[c]);
        var colLoss = new double[cols];
        var blocks = new List<(int c0, int width, double loss)>();
        for (int c0 = 0; c0 < cols; c0 += block)
        {
            int width = Math.Min(block, cols - c0);
            var vals = new List<float>();
            for (int r = 0; r < rows; r++)
                for (int c = c0; c < c0 + width; c++) vals.Add(score[r * cols + c]);
            var sorted = vals.OrderBy(v => v).ToList();
            int k = (int)Math.Floor(p * sorted.Count);
            float t = k >= sorted.Count ? float.PositiveInfinity : sorted[k];
            double total = 0;
            for (int r = 0; r < rows; r++)
                for (int c = c0; c < c0 + width; c++)
                    if (score[r * cols + c] <= t) { colLoss[c] += score[r * cols + c]; total += score[r * cols + c]; }
            blocks.Add((c0, width, total));
        }
        double max = blocks.Max(b => b.loss), min = blocks.Min(b => b.loss);
        double rr = max == 0 ? 0 : (max - min) / max;
        var order = blocks.Select((b, i) => (b, i)).OrderByDescending(x => x.b.loss).ThenBy(x => x.i).Select(x => x.b).ToList();
        var perm = order.SelectMany(b => Enumerable.Range(b.c0, b.width).OrderByDescending(c => colLoss[c]).ThenBy(c => c)).ToArray();
        return (rr, perm, order.Select(b => b.width).ToArray());
    }

    [TestCase(12, 64, 16, 0.5)]
    [TestCase(12, 70, 16, 0.7)] // partial block of 6, which must stay a block of its own after permuting
    public void ReorderingMatchesIndependentOrderAndRoundTrips(int rows, int cols, int block, double p)
    {
        var rng = new Random(rows + cols);
        var dead = new HashSet<int> { 5 };
        using var backend = new CpuBackend();
        using var stats = PruningTestData.Statistics(backend, rng, cols, tokens: 2 * cols, sequences: 2, dead);
        var w = PruningTestData.Gaussian(rng, rows * cols);
        // Make the block losses very uneven, and the uneven blocks not already in descending order.
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) w[r * cols + c] *= MathF.Pow(4f, (c / block) % 3);
        var original = (float[])w.Clone();
        var s = stats.DownloadScale(ScoreStatistic.Official);

        var result = MatrixPruner.Prune(backend, w, rows, cols, stats, new PruneOptions(PruneMethod.Rose, p, null, block));
        var (rr, perm, widths) = ReferenceOrder(original, rows, cols, s, block, p);
        Assert.That(rr, Is.GreaterThan(0.5), "fixture must force reordering");
        Assert.That(result.Reordered, Is.True);
        Assert.That(result.RelativeRange!.Value, Is.EqualTo(rr).Within(1e-6));
        Assert.That(perm, Is.Not.EqualTo(Enumerable.Range(0, cols).ToArray()));

        // Same pass done by hand: permute W and H with the reference π, SparseGPT over the permuted
        // blocks, un-permute. Bitwise equality proves the round trip and the block layout.
        var expected = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) expected[r * cols + j] = original[r * cols + perm[j]];
        var h = stats.DownloadHessian();
        var hp = new float[cols * cols];
        for (int i = 0; i < cols; i++)
            for (int j = 0; j < cols; j++) hp[i * cols + j] = h[perm[i] * cols + perm[j]];
        using (var wm = backend.Upload(expected, rows, cols))
        using (var hm = backend.Upload(hp, cols, cols))
        {
            SparseGpt.Run(backend, wm, hm, widths, new MaskRule(p, null), 0.01);
            backend.Download(wm, expected);
        }
        var unpermuted = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) unpermuted[r * cols + perm[j]] = expected[r * cols + j];
        Assert.That(w, Is.EqualTo(unpermuted));
        for (int r = 0; r < rows; r++) Assert.That(w[r * cols + 5], Is.EqualTo(0f), "dead column back in place");
    }

    [Test]
    public void GatherColumnsRoundTrip()
    {
        using var backend = new CpuBackend();
        var data = PruningTestData.Gaussian(new Random(1), 3 * 7);
        int[] perm = [3, 0, 6, 1, 5, 2, 4];
        using var a = backend.Upload(data, 3, 7);
        using var b = backend.Allocate(3, 7);
        using var c = backend.Allocate(3, 7);
        backend.GatherColumns(a, perm, b);
        backend.GatherColumns(b, RoseOrder.Inverse(perm), c);
        var got = new float[21];
        backend.Download(b, got);
        Assert.That(got[1], Is.EqualTo(data[0]));
        Assert.That(got[7 + 0], Is.EqualTo(data[7 + 3]));
        backend.Download(c, got);
        Assert.That(got, Is.EqualTo(data));
        Assert.Throws<ArgumentException>(() => backend.GatherColumns(a, [0, 0, 1, 2, 3, 4, 5], b));
    }

    [Test]
    public void NmRoseReordersGroupsAndKeepsPartialGroupLast()
    {
        int rows = 6, cols = 18; // 2:4 → four full groups and a partial group of 2
        var nm = new NmPattern(2, 4);
        var rng = new Random(77);
        using var backend = new CpuBackend();
        var s = Enumerable.Repeat(1f, cols).ToArray();
        using var stats = LayerInputStatistics.FromHost(backend, new float[cols * cols], s, s, cols, 1);
        var w = PruningTestData.Gaussian(rng, rows * cols);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < 16; c++) w[r * cols + c] *= c / 4 == 2 ? 50f : 1f;
        using var wm = backend.Upload(w, rows, cols);
        var order = RoseOrdering.Compute(backend, wm, stats.MeanScale, 128, new MaskRule(0, nm));
        Assert.That(order.Reordered, Is.True);
        var perm = order.Permutation!;
        // Group 2 (columns 8..11) carries by far the largest loss: it goes first.
        Assert.That(perm.Take(4).OrderBy(c => c), Is.EqualTo(new[] { 8, 9, 10, 11 }));
        Assert.That(perm.Skip(16).OrderBy(c => c), Is.EqualTo(new[] { 16, 17 }));
        for (int g = 0; g < 4; g++)
            Assert.That(perm.Skip(4 * g).Take(4).Select(c => c / 4).Distinct().Count(), Is.EqualTo(1), "groups stay whole");
    }
}
