using NUnit.Framework;
using Rose.Pruning;
using Rose.Modeling;
using Rose.Pruning.Cpu;

namespace Rose.Tests.Pruning;

/// <summary>The last prune reading a layer input's statistics sweeps with the factor an earlier one shared, or, when it
/// is the only reader, damps their Hessian in place instead of a copy: the same pruned weight either way, and the
/// statistics changed only then.</summary>
[TestFixture]
public class LastUseOfStatisticsTests
{
    [Test]
    public void TheLastReadersAreVOUpAndDown() =>
        Assert.That(LinearKinds.All.Where(k => k.IsLastReaderOfItsInput()),
            Is.EqualTo(new[] { LinearKind.V, LinearKind.O, LinearKind.Up, LinearKind.Down }));

    [TestCase(PruneMethod.SparseGpt, 1.0f)]
    [TestCase(PruneMethod.Rose, 1.0f)] // uniform blocks: ROSE keeps the identity order and runs SparseGPT's pass
    [TestCase(PruneMethod.Rose, 8.0f)] // every third block scaled up: ROSE reorders
    public void ThePrunedWeightIsTheSameAndOnlyTheLastUseChangesTheStatistics(PruneMethod method, float uneven)
    {
        const int rows = 24, cols = 96, block = 16;
        var rng = new Random(5);
        using var backend = new CpuBackend();
        var w = PruningTestData.Gaussian(rng, rows * cols);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                if (c / block % 3 == 0) w[r * cols + c] *= uneven;
        var options = new PruneOptions(method, 0.6, null, block);

        using var shared = PruningTestData.Statistics(backend, rng, cols, tokens: 2 * cols, sequences: 2);
        var hessian = shared.DownloadHessian();
        var copied = (float[])w.Clone();
        var copiedResult = MatrixPruner.Prune(backend, copied, rows, cols, shared, options);
        Assert.That(shared.DownloadHessian(), Is.EqualTo(hessian), "a prune that is not the last leaves the statistics as they were");

        // After the first reader: SparseGPT's pass sweeps with the factor it shared, ROSE's reordered one permutes a copy.
        var last = (float[])w.Clone();
        var lastResult = MatrixPruner.Prune(backend, last, rows, cols, shared, options, lastUseOfStatistics: true);
        Assert.That(last, Is.EqualTo(copied), "the same pruned weight");
        Assert.That(lastResult.Loss, Is.EqualTo(copiedResult.Loss));
        Assert.That(lastResult.Reordered, Is.EqualTo(copiedResult.Reordered));
        Assert.That(shared.DownloadHessian(), Is.EqualTo(hessian), "a shared factor or a permuted copy leaves H as it was");

        // The only reader: its own pass damps the statistics' Hessian in place instead of a copy.
        using var alone = PruningTestData.CopyOf(shared);
        var only = (float[])w.Clone();
        var onlyResult = MatrixPruner.Prune(backend, only, rows, cols, alone, options, lastUseOfStatistics: true);
        Assert.That(only, Is.EqualTo(copied), "the same pruned weight");
        Assert.That(onlyResult.Loss, Is.EqualTo(copiedResult.Loss));
        if (copiedResult.Reordered == true)
            Assert.That(alone.DownloadHessian(), Is.EqualTo(hessian), "the reordered pass works on a permuted copy anyway");
        else
            Assert.That(alone.DownloadHessian(), Is.Not.EqualTo(hessian), "the damping went into the statistics' own Hessian");
        if (method == PruneMethod.Rose && uneven > 1f) Assert.That(copiedResult.Reordered, Is.True, "the uneven case reorders");
    }
}
