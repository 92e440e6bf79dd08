using NUnit.Framework;
using Rose.Pruning;
using Rose.Pruning.Cpu;

namespace Rose.Tests.Pruning;

[TestFixture]
public class SparsityTests
{
    private static readonly PruneMethod[] Methods = [PruneMethod.Magnitude, PruneMethod.Wanda, PruneMethod.SparseGpt, PruneMethod.Rose];

    /// <summary>Zeros the rule produces on tie-free data: "≤ sorted[⌊p·numel⌋]" prunes ⌊p·numel⌋+1
    /// (capped at numel) per threshold region; Wanda prunes exactly ⌊p·cols⌋ per row.</summary>
    private static long ExpectedZeros(PruneMethod method, int rows, int cols, double p, int block)
    {
        static long Rule(double p, long numel) => Math.Min(numel, (long)Math.Floor(p * numel) + 1);
        switch (method)
        {
            case PruneMethod.Magnitude: return Rule(p, (long)rows * cols);
            case PruneMethod.Wanda: return (long)rows * (long)Math.Floor(p * cols);
            default:
                long z = 0;
                for (int c0 = 0; c0 < cols; c0 += block) z += Rule(p, (long)rows * Math.Min(block, cols - c0));
                return z;
        }
    }

    [Test, Combinatorial]
    public void UnstructuredZeroCountFollowsTheRule(
        [ValueSource(nameof(Methods))] PruneMethod method,
        [Values(64, 100)] int cols,
        [Values(0.5, 0.7)] double p)
    {
        int rows = 11, block = 32;
        var rng = new Random(cols + (int)(p * 100) + (int)method * 7);
        using var backend = new CpuBackend();
        using var stats = PruningTestData.Statistics(backend, rng, cols, tokens: 2 * cols, sequences: 2);
        var w = PruningTestData.Gaussian(rng, rows * cols);
        var result = MatrixPruner.Prune(backend, w, rows, cols, stats, new PruneOptions(method, p, null, block));
        long expected = ExpectedZeros(method, rows, cols, p, block);
        Assert.That(PruningTestData.CountZeros(w), Is.EqualTo(expected));
        Assert.That(result.Sparsity, Is.EqualTo((double)expected / (rows * cols)).Within(1e-12));
        Assert.That(result.Loss.HasValue, Is.EqualTo(method is PruneMethod.SparseGpt or PruneMethod.Rose));
        Assert.That(result.Reordered.HasValue, Is.EqualTo(method == PruneMethod.Rose));
        Assert.That(result.PhaseSeconds.Keys, Is.SupersetOf(MatrixPruner.PhaseNames));
    }

    [Test, Combinatorial]
    public void NmPatternIsValidAndExact(
        [ValueSource(nameof(Methods))] PruneMethod method,
        [Values(64, 70)] int cols,
        [Values("2:4", "4:8")] string pattern,
        [Values(false, true)] bool skewed)
    {
        int rows = 9;
        var nm = NmPattern.Parse(pattern);
        var rng = new Random(cols * 3 + nm.M + (skewed ? 1 : 0) + (int)method * 11);
        using var backend = new CpuBackend();
        using var stats = PruningTestData.Statistics(backend, rng, cols, tokens: 2 * cols, sequences: 2);
        var w = PruningTestData.Gaussian(rng, rows * cols);
        if (skewed)
        {
            // Very uneven group losses so that ROSE reorders whole groups.
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) w[r * cols + c] *= (c / nm.M) % 3 == 0 ? 100f : 0.01f;
        }
        var result = MatrixPruner.Prune(backend, w, rows, cols, stats, new PruneOptions(method, 0, nm, BlockSize: 16));
        PruningTestData.AssertNmValid(w, rows, cols, nm);
        long expected = 0;
        for (int c0 = 0; c0 < cols; c0 += nm.M) expected += rows * Math.Min(nm.N, Math.Min(nm.M, cols - c0));
        Assert.That(PruningTestData.CountZeros(w), Is.EqualTo(expected));
        if (method == PruneMethod.Rose && skewed) Assert.That(result.Reordered, Is.True);
    }
}
