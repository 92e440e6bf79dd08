namespace Rose.Pruning.Cpu;

/// <summary>How <see cref="DenseKernels.MultiplyAdd"/> splits C among tasks: tiles of Rows × Columns, each one
/// task that walks the depth Depth steps at a time (Columns a multiple of the 32-wide register block unless it
/// covers the width). Results do not depend on it; speed does: with <see cref="PackB"/> a tile's Depth × Columns
/// panel of B is copied once per depth step into the order its register blocks read it, and then read from the
/// core's L2 by each 8 rows of the tile; without, they read B in place (cheaper when a tile has few rows).</summary>
internal readonly record struct GemmTiling(int Rows, int Columns, int Depth, bool PackB = true)
{
    /// <summary>256 × 512 × 256 (B's packed panel 512 KB, A's 256 KB, C's tile 512 KB: within a 2 MB L2; on
    /// two cores it measured faster than 128 rows or 1024 columns at 7B shapes),
    /// with fewer rows per tile when C is too small to give every core several tiles (the sample's 172-wide
    /// fold would otherwise be two tasks); B is read in place when a tile has under 64 rows, too few to repay
    /// copying the panel (the sample's folds measured slower packed).</summary>
    public static GemmTiling For(int m, int n)
    {
        const int columns = 512, depth = 256;
        int rows = 256, panels = (n + columns - 1) / columns, wanted = 4 * Environment.ProcessorCount;
        while (rows > 16 && (long)(m + rows - 1) / rows * panels < wanted) rows /= 2;
        return new GemmTiling(rows, columns, depth, PackB: rows >= 64);
    }
}
