using System.Diagnostics;

namespace Rose.Pruning;

/// <summary>What one SparseGPT pass did.</summary>
public readonly record struct SparseGptOutcome(double Loss, double DampUsed, int NonPdEvents, bool IdentityFallback, int DeadColumns);

/// <summary>The upper Cholesky factor of the damped H⁻¹ that OBS sweeps with (<see cref="SparseGpt.Factor"/>), and how
/// it was reached: the λ used, the failed factorizations before it, whether it is the identity fallback, and how many
/// dead columns were set.</summary>
public sealed record ObsFactor(BackendMatrix Upper, double DampUsed, int NonPdEvents, bool IdentityFallback, int DeadColumns) : IDisposable
{
    public void Dispose() => Upper.Dispose();
}

/// <summary>SparseGPT (OBS with a Cholesky factor of H⁻¹), exactly as the official code runs it,
/// written against <see cref="IPruningBackend"/>.</summary>
public static class SparseGpt
{
    /// <summary>λ grows ×10 this many times after the first failed factorization (0.01 → 0.1 → 1 → 10).</summary>
    public const int MaxDampRetries = 3;

    /// <summary>The OBS block width actually used: B, or for N:M B rounded down to a multiple of M
    /// (at least M) so that no group straddles two blocks.</summary>
    public static int EffectiveBlockSize(int blockSize, NmPattern? pattern)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        if (pattern is not { } nm) return blockSize;
        return Math.Max(nm.M, blockSize - blockSize % nm.M);
    }

    /// <summary>Standard blocking [B, B, …, cols mod B] with B from <see cref="EffectiveBlockSize"/>.</summary>
    public static int[] StandardBlocks(int cols, int blockSize, NmPattern? pattern)
    {
        int b = EffectiveBlockSize(blockSize, pattern);
        var widths = new List<int>();
        for (int i = 0; i < cols; i += b) widths.Add(Math.Min(b, cols - i));
        return [.. widths];
    }

    /// <summary>Prunes <paramref name="weight"/> in place. <paramref name="hessian"/> is consumed
    /// (dead columns set, damping added); pass a copy if it is shared. <paramref name="blockWidths"/>
    /// lists the OBS column blocks left to right and must sum to the column count; for N:M every
    /// block must start at a multiple of M. <paramref name="phaseSeconds"/> gets "prepare",
    /// "cholesky" and "obs" added.</summary>
    public static SparseGptOutcome Run(IPruningBackend backend, BackendMatrix weight, BackendMatrix hessian,
        IReadOnlyList<int> blockWidths, MaskRule rule, double damp, IDictionary<string, double>? phaseSeconds = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        CheckBlocks(blockWidths, rule, weight.Cols);
        using var factor = Factor(backend, weight, hessian, damp, phaseSeconds);
        return Sweep(backend, weight, factor, blockWidths, rule, phaseSeconds);
    }

    /// <summary>The upper Cholesky factor of the damped H⁻¹ that OBS sweeps <paramref name="weight"/> with, as
    /// the official code reaches it: dead columns (H[j,j] = 0) get H[j,j] = 1 and W[:, j] = 0, λ·mean(diag H)
    /// is added to the diagonal, and λ grows ×10 while the factorization fails (the identity after
    /// <see cref="MaxDampRetries"/>). <paramref name="hessian"/> is consumed. It depends on H and λ alone, so
    /// where no column is dead it serves every weight that reads the same input.</summary>
    public static ObsFactor Factor(IPruningBackend backend, BackendMatrix weight, BackendMatrix hessian, double damp,
        IDictionary<string, double>? phaseSeconds = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        int cols = weight.Cols;
        if (hessian.Rows != cols || hessian.Cols != cols)
            throw new ArgumentException($"Hessian is {hessian.Rows}×{hessian.Cols}, expected {cols}×{cols}.");
        var clock = Stopwatch.StartNew();
        var prep = backend.PrepareHessian(hessian, weight);
        double lambda = damp;
        backend.AddDiagonal(hessian, (float)(lambda * prep.MeanDiagonal));
        Add(phaseSeconds, "prepare", clock);

        clock.Restart();
        var upper = backend.Allocate(cols, cols);
        int nonPd = 0;
        bool ok = false;
        try
        {
            for (int attempt = 0; ; attempt++)
            {
                ok = backend.CholeskyInverseUpper(hessian, upper);
                if (ok) break;
                nonPd++;
                if (attempt == MaxDampRetries) break;
                // Add only the increment so the prepared H is not copied again for a rare retry.
                // λ = 0 cannot grow by ×10, so it restarts from the default 0.01.
                double next = lambda > 0 ? lambda * 10 : 0.01;
                backend.AddDiagonal(hessian, (float)((next - lambda) * prep.MeanDiagonal));
                lambda = next;
            }
            if (!ok) backend.SetIdentity(upper);
        }
        catch
        {
            upper.Dispose();
            throw;
        }
        Add(phaseSeconds, "cholesky", clock);
        return new ObsFactor(upper, lambda, nonPd, !ok, prep.DeadColumns);
    }

    /// <summary>The OBS sweep of <paramref name="weight"/> over <paramref name="blockWidths"/> with a factor from
    /// <see cref="Factor"/> (left as it is); adds "obs" to <paramref name="phaseSeconds"/>.</summary>
    public static SparseGptOutcome Sweep(IPruningBackend backend, BackendMatrix weight, ObsFactor factor,
        IReadOnlyList<int> blockWidths, MaskRule rule, IDictionary<string, double>? phaseSeconds = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(factor);
        int rows = weight.Rows, cols = weight.Cols;
        if (factor.Upper.Rows != cols)
            throw new ArgumentException($"The factor is {factor.Upper.Rows}×{factor.Upper.Cols}, expected {cols}×{cols}.");
        int maxWidth = CheckBlocks(blockWidths, rule, cols);
        var clock = Stopwatch.StartNew();
        double loss = 0;
        if (rows > 0 && cols > 0)
        {
            using var error = backend.Allocate(rows, maxWidth);
            using var rowLoss = backend.AllocateVector(rows);
            int i1 = 0;
            foreach (int w in blockWidths)
            {
                int i2 = i1 + w;
                backend.ObsBlockSweep(weight, factor.Upper, i1, i2, rule, error, rowLoss);
                backend.TrailingUpdate(weight, error, factor.Upper, i1, i2);
                i1 = i2;
            }
            var losses = new float[rows];
            backend.Download(rowLoss, losses);
            foreach (float l in losses) loss += l;
        }
        Add(phaseSeconds, "obs", clock);
        return new SparseGptOutcome(loss, factor.DampUsed, factor.NonPdEvents, factor.IdentityFallback, factor.DeadColumns);
    }

    /// <summary>Checks that the widths are positive, sum to <paramref name="cols"/> and (N:M) start at multiples of
    /// M; returns the widest.</summary>
    private static int CheckBlocks(IReadOnlyList<int> blockWidths, MaskRule rule, int cols)
    {
        ArgumentNullException.ThrowIfNull(blockWidths);
        long total = 0;
        int maxWidth = 0, start = 0;
        foreach (int w in blockWidths)
        {
            if (w < 1) throw new ArgumentException($"Block width {w} must be positive.");
            if (rule.Pattern is { } nm && start % nm.M != 0)
                throw new ArgumentException($"N:M block starting at column {start} is not aligned to M = {nm.M}.");
            total += w;
            start += w;
            maxWidth = Math.Max(maxWidth, w);
        }
        if (total != cols) throw new ArgumentException($"Block widths sum to {total}, expected {cols} columns.");
        return maxWidth;
    }

    internal static void Add(IDictionary<string, double>? phases, string name, Stopwatch clock)
    {
        if (phases is null) return;
        phases[name] = (phases.TryGetValue(name, out var v) ? v : 0) + clock.Elapsed.TotalSeconds;
    }
}
