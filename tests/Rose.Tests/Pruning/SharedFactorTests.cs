using NUnit.Framework;
using Rose.Pruning;
using Rose.Pruning.Cpu;
using Rose.Tests.Cuda;

namespace Rose.Tests.Pruning;

/// <summary>The weights reading one input (q, k, v; gate, up) share the factor of the damped H⁻¹ the first of them
/// makes: each is pruned to the same bits as by itself, the later ones without a factorization. Nothing is shared
/// where a column is dead (its preparation zeroes that column of the weight), across different damping, or past a
/// fold that changes H.</summary>
[TestFixture]
public class SharedFactorTests
{
    private const int Rows = 40, Cols = 96, Block = 32;

    [TestCase(PruneMethod.SparseGpt)]
    [TestCase(PruneMethod.Rose)]
    public void WeightsReadingOneInputPruneAsAloneWithOneFactorization(PruneMethod method) =>
        PruneThreeAsAlone(new CpuBackend(), method);

    [Test, Category("Gpu"), NonParallelizable]
    public void WeightsReadingOneInputPruneAsAloneWithOneFactorizationOnCuda() =>
        PruneThreeAsAlone(CudaTestSupport.Backend(), PruneMethod.SparseGpt);

    private static void PruneThreeAsAlone(IPruningBackend backend, PruneMethod method)
    {
        var rng = new Random(7);
        // Inputs of even scale, so that ROSE too keeps the weights in their order and comes through SparseGPT's pass.
        using var shared = new LayerInputStatistics(backend, Cols);
        for (int s = 0; s < 3; s++) shared.Fold(PruningTestData.Gaussian(rng, 2 * Cols * Cols), 2 * Cols);
        using var pristine = PruningTestData.CopyOf(shared);
        var originals = Enumerable.Range(0, 3).Select(_ => PruningTestData.Gaussian(rng, Rows * Cols)).ToArray();
        var options = new PruneOptions(method, 0.6, null, Block);

        var together = new (float[] Weight, MatrixPruneResult Result)[3];
        for (int i = 0; i < 3; i++)
        {
            var w = (float[])originals[i].Clone();
            together[i] = (w, MatrixPruner.Prune(backend, w, Rows, Cols, shared, options, lastUseOfStatistics: i == 2));
        }

        for (int i = 0; i < 3; i++)
        {
            using var alone = PruningTestData.CopyOf(pristine);
            var w = (float[])originals[i].Clone();
            var result = MatrixPruner.Prune(backend, w, Rows, Cols, alone, options);
            Assert.That(together[i].Weight, Is.EqualTo(w), $"weight {i}");
            Assert.That((together[i].Result.Loss, together[i].Result.DampUsed, together[i].Result.Reordered),
                Is.EqualTo((result.Loss, result.DampUsed, result.Reordered)), $"weight {i}'s outcome");
        }
        // A weight ROSE reorders sweeps its own permuted H; the others come through SparseGPT's pass.
        var standard = together.Where(t => t.Result.Reordered != true).Select(t => t.Result.PhaseSeconds).ToArray();
        Assert.That(standard, Has.Length.GreaterThanOrEqualTo(2), "the data leaves at least two weights in their order");
        Assert.That(standard[0]["cholesky"], Is.GreaterThan(0), "the first factors");
        Assert.That(standard.Skip(1).Select(p => p["prepare"] + p["cholesky"]), Is.All.EqualTo(0.0), "the others sweep with its factor");
    }

    [Test]
    public void NothingIsSharedWhereAColumnIsDeadAcrossDampingsOrPastAFold()
    {
        var backend = new CpuBackend();
        var rng = new Random(3);
        var options = new PruneOptions(PruneMethod.SparseGpt, 0.6, null, Block);

        // A dead column: every weight's preparation zeroes it, so each factors its own.
        using (var dead = PruningTestData.Statistics(backend, rng, Cols, tokens: 2 * Cols, deadColumns: new HashSet<int> { 5 }))
        {
            for (int i = 0; i < 2; i++)
            {
                var w = PruningTestData.Gaussian(rng, Rows * Cols);
                var result = MatrixPruner.Prune(backend, w, Rows, Cols, dead, options);
                Assert.That(result.DeadColumns, Is.EqualTo(1));
                Assert.That(result.PhaseSeconds["cholesky"], Is.GreaterThan(0), $"weight {i} factors");
                Assert.That(Enumerable.Range(0, Rows).Select(r => w[r * Cols + 5]), Is.All.EqualTo(0f), $"weight {i}'s dead column");
            }
        }

        using var stats = PruningTestData.Statistics(backend, rng, Cols, tokens: 2 * Cols);
        MatrixPruner.Prune(backend, PruningTestData.Gaussian(rng, Rows * Cols), Rows, Cols, stats, options);
        // A fold changes H.
        stats.Fold(PruningTestData.Gaussian(rng, 2 * Cols * Cols), 2 * Cols);
        AssertPrunesAsAlone(backend, stats, PruningTestData.Gaussian(rng, Rows * Cols), options, "after a fold");
        // Another damping: another factor.
        AssertPrunesAsAlone(backend, stats, PruningTestData.Gaussian(rng, Rows * Cols), options with { Damp = 0.1 }, "another damping");
    }

    private static void AssertPrunesAsAlone(IPruningBackend backend, LayerInputStatistics stats, float[] original, PruneOptions options,
        string what)
    {
        using var alone = PruningTestData.CopyOf(stats);
        var expected = (float[])original.Clone();
        MatrixPruner.Prune(backend, expected, Rows, Cols, alone, options);
        var result = MatrixPruner.Prune(backend, original, Rows, Cols, stats, options);
        Assert.That(original, Is.EqualTo(expected), what);
        Assert.That(result.PhaseSeconds["cholesky"], Is.GreaterThan(0), $"{what}: factored afresh");
    }
}
