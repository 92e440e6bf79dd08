using NUnit.Framework;
using Rose.Pruning;
using Rose.Pruning.Cpu;

namespace Rose.Tests.Pruning;

[TestFixture]
public class MagnitudeAndWandaTests
{
    private static float[] Prune(PruneMethod method, float[] w, int rows, int cols, PruneOptions options,
        float[]? official = null, float[]? mean = null)
    {
        using var backend = new CpuBackend();
        LayerInputStatistics? stats = null;
        if (official is not null || mean is not null)
            stats = LayerInputStatistics.FromHost(backend, new float[cols * cols], official ?? mean!, mean ?? official!, cols, 1);
        var copy = (float[])w.Clone();
        MatrixPruner.Prune(backend, copy, rows, cols, stats, options with { Method = method });
        stats?.Dispose();
        return copy;
    }

    [Test]
    public void MagnitudeUnstructuredPrunesUpToAndIncludingThreshold()
    {
        // numel 8, ⌊0.25·8⌋ = 2 → t = sorted |W|[2] = 3; |W| ≤ 3 goes.
        float[] w = [1, -2, 3, -4, 5, -6, 7, -8];
        var r = Prune(PruneMethod.Magnitude, w, 2, 4, new PruneOptions(PruneMethod.Magnitude, 0.25, null));
        Assert.That(r, Is.EqualTo(new float[] { 0, 0, 0, -4, 5, -6, 7, -8 }));
    }

    [Test]
    public void MagnitudeTiesAtThresholdAreAllPruned()
    {
        // sorted |W| = 1,2,2,2,3,5,6,7; index 2 → t = 2; all three 2s go with the 1.
        float[] w = [1, 2, -2, 3, 2, 5, 6, 7];
        var r = Prune(PruneMethod.Magnitude, w, 2, 4, new PruneOptions(PruneMethod.Magnitude, 0.25, null));
        Assert.That(r, Is.EqualTo(new float[] { 0, 0, 0, 3, 0, 5, 6, 7 }));
    }

    [Test]
    public void MagnitudeFullSparsityPrunesAll()
    {
        float[] w = [1, 2, 3, 4];
        var r = Prune(PruneMethod.Magnitude, w, 1, 4, new PruneOptions(PruneMethod.Magnitude, 1.0, null));
        Assert.That(r, Is.All.EqualTo(0f));
    }

    [Test]
    public void MagnitudeNmPrunesSmallestPerGroupWithStableTies()
    {
        float[] w = [4, -1, 3, 2, 0.5f, 9, -8, 7, 1, 1, 1, 1, 5, 6, 7, 8];
        var r = Prune(PruneMethod.Magnitude, w, 2, 8, new PruneOptions(PruneMethod.Magnitude, 0, new NmPattern(2, 4)));
        Assert.That(r, Is.EqualTo(new float[] { 4, 0, 3, 0, 0, 9, -8, 0, 0, 0, 1, 1, 0, 0, 7, 8 }));
    }

    [Test]
    public void MagnitudeNmPartialLastGroupPrunesMinOfNAndWidth()
    {
        // cols 6 with 2:4: the last group has width 2 and loses both.
        float[] w = [5, 1, 6, 2, 3, 4];
        var r = Prune(PruneMethod.Magnitude, w, 1, 6, new PruneOptions(PruneMethod.Magnitude, 0, new NmPattern(2, 4)));
        Assert.That(r, Is.EqualTo(new float[] { 5, 0, 6, 0, 0, 0 }));
    }

    [Test]
    public void WandaPrunesExactlyFloorPColsPerRowByScaledMagnitude()
    {
        // metric = |W|·sqrt(s) = [2, 1, 3, 0.5] per row; ⌊0.5·4⌋ = 2 → columns 3 and 1.
        float[] w = [1, 1, 1, 1, -1, -1, -1, -1];
        float[] s = [4, 1, 9, 0.25f];
        var r = Prune(PruneMethod.Wanda, w, 2, 4, new PruneOptions(PruneMethod.Wanda, 0.5, null), mean: s);
        Assert.That(r, Is.EqualTo(new float[] { 1, 0, 1, 0, -1, 0, -1, 0 }));
    }

    [Test]
    public void WandaTiesResolveToLowerIndexLikeStableSort()
    {
        // All metrics equal: ⌊0.6·5⌋ = 3 → the first three columns.
        float[] w = [2, 2, -2, 2, 2];
        var r = Prune(PruneMethod.Wanda, w, 1, 5, new PruneOptions(PruneMethod.Wanda, 0.6, null), mean: [1, 1, 1, 1, 1]);
        Assert.That(r, Is.EqualTo(new float[] { 0, 0, 0, 2, 2 }));
    }

    [Test]
    public void WandaDefaultsToMeanStatisticAndHonoursOfficial()
    {
        float[] w = [1, 1, 1, 1];
        float[] mean = [1, 4, 9, 16];
        float[] official = [16, 9, 4, 1];
        var byDefault = Prune(PruneMethod.Wanda, w, 1, 4, new PruneOptions(PruneMethod.Wanda, 0.5, null), official, mean);
        Assert.That(byDefault, Is.EqualTo(new float[] { 0, 0, 1, 1 }));
        var byOfficial = Prune(PruneMethod.Wanda, w, 1, 4,
            new PruneOptions(PruneMethod.Wanda, 0.5, null, ScoreStat: ScoreStatistic.Official), official, mean);
        Assert.That(byOfficial, Is.EqualTo(new float[] { 1, 1, 0, 0 }));
    }

    [Test]
    public void WandaNmUsesMetricNotMagnitude()
    {
        float[] w = [1, 2, 3, 4];
        float[] s = [100, 100, 0.01f, 0.01f]; // metric 10, 20, 0.3, 0.4
        var r = Prune(PruneMethod.Wanda, w, 1, 4, new PruneOptions(PruneMethod.Wanda, 0, new NmPattern(2, 4)), mean: s);
        Assert.That(r, Is.EqualTo(new float[] { 1, 2, 0, 0 }));
    }

    [Test]
    public void NonMagnitudeMethodsRequireStatistics()
    {
        using var backend = new CpuBackend();
        foreach (var m in new[] { PruneMethod.Wanda, PruneMethod.SparseGpt, PruneMethod.Rose })
            Assert.Throws<ArgumentException>(() =>
                MatrixPruner.Prune(backend, new float[4], 1, 4, null, new PruneOptions(m, 0.5, null)));
    }

    [Test]
    public void NmPatternParses()
    {
        Assert.That(NmPattern.Parse("2:4"), Is.EqualTo(new NmPattern(2, 4)));
        Assert.That(NmPattern.Parse(" 4 : 8 ").M, Is.EqualTo(8));
        Assert.Throws<FormatException>(() => NmPattern.Parse("24"));
        Assert.Throws<ArgumentException>(() => NmPattern.Parse("5:4"));
    }
}
