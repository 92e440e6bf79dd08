namespace Rose.Pruning;

/// <summary>The ROSE column order for one matrix.</summary>
/// <param name="Permutation">π with W_new[:, j] = W[:, π[j]], or null for the identity.</param>
/// <param name="RelativeRange">r = (max ℓ − min ℓ)/max ℓ over the block losses (0 when max ℓ = 0).</param>
/// <param name="BlockWidths">The ordering blocks' widths in permuted order (identity: original order).</param>
/// <param name="BlockLosses">ℓ_b of the ordering blocks in original order.</param>
public sealed record RoseOrder(int[]? Permutation, double RelativeRange, int[] BlockWidths, double[] BlockLosses)
{
    public bool Reordered => Permutation is not null;

    /// <summary>The relative range above which ROSE reorders.</summary>
    public const double ReorderThreshold = 0.5;

    public static int[] Inverse(ReadOnlySpan<int> permutation)
    {
        var inv = new int[permutation.Length];
        for (int j = 0; j < permutation.Length; j++) inv[permutation[j]] = j;
        return inv;
    }
}

/// <summary>ROSE's reordering: blocks with the largest pruning loss go first (pruned while most
/// columns remain to absorb their error), columns inside a block by descending column loss.</summary>
public static class RoseOrdering
{
    /// <summary>Unstructured: blocks of <paramref name="blockSize"/> over the original columns (the
    /// last one may be partial and is a block like any other). N:M: blocks are the M-column groups;
    /// a partial last group stays last and does not enter the relative range.</summary>
    public static RoseOrder Compute(IPruningBackend backend, BackendMatrix weight, BackendVector statistic,
        int blockSize, MaskRule rule)
    {
        ArgumentNullException.ThrowIfNull(backend);
        int cols = weight.Cols;
        int width = rule.Pattern is { } nm ? nm.M : blockSize;
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        int blocks = (cols + width - 1) / width;
        var columnLoss = new double[cols];
        var blockLoss = new double[blocks];
        using (var scores = backend.Scores(weight, statistic))
            backend.OrderingLosses(scores, width, rule, columnLoss, blockLoss);

        // Blocks that take part in the ordering: all of them, except a partial N:M group which
        // must stay last to keep every full group aligned.
        int movable = rule.IsNm && cols % width != 0 ? blocks - 1 : blocks;
        double max = double.NegativeInfinity, min = double.PositiveInfinity;
        for (int b = 0; b < movable; b++)
        {
            max = Math.Max(max, blockLoss[b]);
            min = Math.Min(min, blockLoss[b]);
        }
        double r = movable == 0 || !(max > 0) ? 0 : (max - min) / max;

        int Width(int b) => Math.Min(width, cols - b * width);
        if (!(r > RoseOrder.ReorderThreshold))
            return new RoseOrder(null, r, [.. Enumerable.Range(0, blocks).Select(Width)], blockLoss);

        // OrderBy/ThenBy are stable: ties keep the original order.
        var blockOrder = Enumerable.Range(0, movable).OrderByDescending(b => blockLoss[b]).ToList();
        for (int b = movable; b < blocks; b++) blockOrder.Add(b);
        var perm = new int[cols];
        int pos = 0;
        foreach (int b in blockOrder)
        {
            int c0 = b * width;
            foreach (int j in Enumerable.Range(c0, Width(b)).OrderByDescending(j => columnLoss[j]))
                perm[pos++] = j;
        }
        return new RoseOrder(perm, r, [.. blockOrder.Select(Width)], blockLoss);
    }
}
