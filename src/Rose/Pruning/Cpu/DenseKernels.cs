using System.Numerics.Tensors;

namespace Rose.Pruning.Cpu;

/// <summary>Blocked, row-parallel dense kernels of the CPU reference backend.</summary>
internal static class DenseKernels
{
    private const int RowTile = 16;
    private const int ColTile = 512;
    private const int DepthTile = 128;

    /// <summary>C[m×n] += alpha · A[m×k] · B[k×n], all row-major with leading dimensions.
    /// Tiles keep a DepthTile×ColTile panel of B in L2 while rows of C stream through it.
    /// With <paramref name="upperTilesOnly"/> (m = n) tiles entirely below the diagonal are skipped;
    /// the caller then mirrors the upper triangle.</summary>
    public static void MultiplyAdd(int m, int n, int k, float alpha,
        float[] a, int aOffset, int lda, float[] b, int bOffset, int ldb, float[] c, int cOffset, int ldc,
        bool upperTilesOnly = false)
    {
        if (m == 0 || n == 0 || k == 0) return;
        int rowTiles = (m + RowTile - 1) / RowTile;
        Parallel.For(0, rowTiles, tile =>
        {
            int r0 = tile * RowTile, r1 = Math.Min(m, r0 + RowTile);
            int jStart = upperTilesOnly ? r0 / ColTile * ColTile : 0;
            for (int j0 = jStart; j0 < n; j0 += ColTile)
            {
                int jw = Math.Min(ColTile, n - j0);
                for (int k0 = 0; k0 < k; k0 += DepthTile)
                {
                    int kw = Math.Min(DepthTile, k - k0);
                    for (int r = r0; r < r1; r++)
                    {
                        var cRow = c.AsSpan(cOffset + r * ldc + j0, jw);
                        int aRow = aOffset + r * lda;
                        for (int kk = k0; kk < k0 + kw; kk++)
                        {
                            float aik = alpha * a[aRow + kk];
                            if (aik == 0f) continue;
                            TensorPrimitives.MultiplyAdd(b.AsSpan(bOffset + kk * ldb + j0, jw), aik, cRow, cRow);
                        }
                    }
                }
            }
        });
    }

    /// <summary>Transpose of a rows×cols row-major matrix into cols×rows.</summary>
    public static void Transpose(ReadOnlySpan<float> source, int rows, int cols, float[] destination)
    {
        const int T = 32;
        for (int r0 = 0; r0 < rows; r0 += T)
            for (int c0 = 0; c0 < cols; c0 += T)
            {
                int r1 = Math.Min(rows, r0 + T), c1 = Math.Min(cols, c0 + T);
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++)
                        destination[c * rows + r] = source[r * cols + c];
            }
    }
}
