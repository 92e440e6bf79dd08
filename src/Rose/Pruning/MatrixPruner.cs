using System.Diagnostics;

namespace Rose.Pruning;

/// <summary>Entry point: prunes one weight matrix [rows × cols], row-major, in place.</summary>
public static class MatrixPruner
{
    /// <summary>The phases a prune's seconds are split into; "transfer" is bringing the weight to the backend and
    /// its result back (an upload and a download, or a resident weight's widening and rounding and the download).</summary>
    public static readonly IReadOnlyList<string> PhaseNames = ["prepare", "cholesky", "ordering", "obs", "transfer"];

    /// <param name="stats">Input statistics of this linear; required for every method but magnitude.
    /// Not modified unless <paramref name="lastUseOfStatistics"/>.</param>
    /// <param name="resident">Where the backend already holds this weight (in the model's dtype): the prune
    /// starts from that copy and stores its result there, and <paramref name="weight"/> receives the pruned
    /// values as stored (its values on entry are not read). Null: the backend prunes <paramref name="weight"/>
    /// (the host backend in the array itself, a device one on an uploaded copy whose fp32 result comes back
    /// into it); if the prune fails, its values are undefined.</param>
    /// <param name="lastUseOfStatistics">No prune after this one reads <paramref name="stats"/>: SparseGPT then
    /// damps its Hessian in place instead of a copy (a 7B down_proj's is 484 MB) and shares no factor, the factor
    /// an earlier prune shared is freed, and the statistics are not to be used again. The pruned weight is the same
    /// either way.</param>
    public static MatrixPruneResult Prune(IPruningBackend backend, float[] weight, int rows, int cols,
        LayerInputStatistics? stats, PruneOptions options, IResidentWeight? resident = null, bool lastUseOfStatistics = false)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (rows < 0 || cols < 0 || weight.Length != (long)rows * cols)
            throw new ArgumentException($"Weight has {weight.Length} values, expected {rows}×{cols}.", nameof(weight));
        if (options.Method != PruneMethod.Magnitude)
        {
            if (stats is null)
                throw new ArgumentException($"{options.Method} needs calibration statistics of the layer input.", nameof(stats));
            if (stats.Columns != cols)
                throw new ArgumentException($"Statistics cover {stats.Columns} input columns, weight has {cols}.", nameof(stats));
            if (!ReferenceEquals(stats.Backend, backend))
                throw new ArgumentException("Statistics live in a different backend than the one pruning.", nameof(stats));
        }

        var phases = PhaseNames.ToDictionary(p => p, _ => 0.0);
        var rule = options.Rule;
        double? loss = null, relativeRange = null, damp = null;
        bool? reordered = null;
        int nonPd = 0, dead = 0;
        bool identity = false;

        var transfer = Stopwatch.StartNew();
        using (var w = resident?.Checkout() ?? backend.UploadInPlace(weight, rows, cols))
        {
            SparseGpt.Add(phases, "transfer", transfer);
            if (w.Rows != rows || w.Cols != cols)
                throw new ArgumentException($"The resident weight is {w.Rows}×{w.Cols}, expected {rows}×{cols}.", nameof(resident));
            switch (options.Method)
            {
                case PruneMethod.Magnitude:
                {
                    var clock = Stopwatch.StartNew();
                    backend.MagnitudePrune(w, rule);
                    SparseGpt.Add(phases, "obs", clock);
                    break;
                }
                case PruneMethod.Wanda:
                {
                    var clock = Stopwatch.StartNew();
                    backend.WandaPrune(w, stats!.Scale(options.EffectiveScoreStat), rule);
                    SparseGpt.Add(phases, "obs", clock);
                    break;
                }
                case PruneMethod.SparseGpt:
                {
                    var o = RunStandardBlocks(backend, w, stats!, options, phases, lastUseOfStatistics);
                    (loss, damp, nonPd, identity, dead) = (o.Loss, o.DampUsed, o.NonPdEvents, o.IdentityFallback, o.DeadColumns);
                    break;
                }
                case PruneMethod.Rose:
                {
                    var o = RunRose(backend, w, stats!, options, phases, lastUseOfStatistics, out var order);
                    (loss, damp, nonPd, identity, dead) = (o.Loss, o.DampUsed, o.NonPdEvents, o.IdentityFallback, o.DeadColumns);
                    relativeRange = order.RelativeRange;
                    reordered = order.Reordered;
                    break;
                }
                default:
                    throw new ArgumentException($"Unknown pruning method {options.Method}.", nameof(options));
            }
            if (lastUseOfStatistics) stats?.ReleaseSharedFactor();
            transfer.Restart();
            if (resident is null) backend.Download(w, weight);
            else resident.Commit(w, weight);
            SparseGpt.Add(phases, "transfer", transfer);
        }

        long zeros = ZeroCount.Of(weight);
        double sparsity = weight.Length == 0 ? 0 : (double)zeros / weight.Length;
        return new MatrixPruneResult(rows, cols, sparsity, loss, relativeRange, reordered, damp, nonPd, identity, dead, phases);
    }

    /// <summary>SparseGPT over the standard blocks. The factor of the damped H⁻¹ depends on H and λ alone, so the first
    /// weight of an input group to come here makes it (on a copy of the statistics' Hessian unless this is its last
    /// use) and leaves it with the statistics; the others reading that input (k and v after q, up after gate) sweep
    /// with it, the same bits, without a copy or a factorization. Not where a column is dead: its preparation also
    /// zeroes that column of each weight.</summary>
    private static SparseGptOutcome RunStandardBlocks(IPruningBackend backend, BackendMatrix w, LayerInputStatistics stats,
        PruneOptions options, Dictionary<string, double> phases, bool lastUseOfStatistics)
    {
        var blocks = SparseGpt.StandardBlocks(w.Cols, options.BlockSize, options.Pattern);
        if (stats.SharedFactor(options.Damp) is { } shared)
            return SparseGpt.Sweep(backend, w, shared, blocks, options.Rule, phases);

        var clock = Stopwatch.StartNew();
        ObsFactor factor;
        using (var copy = lastUseOfStatistics ? null : backend.Clone(stats.Hessian))
        {
            SparseGpt.Add(phases, "prepare", clock);
            factor = SparseGpt.Factor(backend, w, copy ?? stats.Hessian, options.Damp, phases);
        }
        bool share = !lastUseOfStatistics && factor.DeadColumns == 0;
        try
        {
            if (share) stats.Share(factor, options.Damp);
            return SparseGpt.Sweep(backend, w, factor, blocks, options.Rule, phases);
        }
        finally
        {
            if (!share) factor.Dispose();
        }
    }

    /// <summary>ROSE: order, permute W and H, SparseGPT over the permuted blocks, un-permute W.</summary>
    private static SparseGptOutcome RunRose(IPruningBackend backend, BackendMatrix w, LayerInputStatistics stats,
        PruneOptions options, Dictionary<string, double> phases, bool lastUseOfStatistics, out RoseOrder order)
    {
        var rule = options.Rule;
        var clock = Stopwatch.StartNew();
        order = RoseOrdering.Compute(backend, w, stats.Scale(options.EffectiveScoreStat), options.BlockSize, rule);
        SparseGpt.Add(phases, "ordering", clock);

        int cols = w.Cols;
        if (order.Permutation is not { } perm)
        {
            // Identity: exactly the SparseGPT pass, standard blocks.
            return RunStandardBlocks(backend, w, stats, options, phases, lastUseOfStatistics);
        }

        clock.Restart();
        using var wp = backend.Allocate(w.Rows, cols);
        backend.GatherColumns(w, perm, wp);
        using var hp = backend.PermuteSymmetric(stats.Hessian, perm);
        SparseGpt.Add(phases, "ordering", clock);

        // Unstructured: the OBS blocks are the permuted ROSE blocks (a partial block stays a block
        // wherever it lands). N:M: groups are contiguous and aligned after the permutation, so the
        // standard (M-rounded) blocking keeps every group inside one OBS block.
        var blocks = rule.IsNm ? SparseGpt.StandardBlocks(cols, options.BlockSize, options.Pattern) : order.BlockWidths;
        var outcome = SparseGpt.Run(backend, wp, hp, blocks, rule, options.Damp, phases);

        clock.Restart();
        backend.GatherColumns(wp, RoseOrder.Inverse(perm), w);
        SparseGpt.Add(phases, "ordering", clock);
        return outcome;
    }
}
