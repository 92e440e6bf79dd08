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

    /// <summary>In-place lower Cholesky of the symmetric n×n matrix (lower triangle read) in double;
    /// afterwards the lower triangle holds L with A = LLᵀ. False on a non-positive or non-finite pivot.
    /// Left-looking by column: every entry below the pivot is one contiguous dot product.</summary>
    public static bool CholeskyLower(double[] a, int n)
    {
        for (int j = 0; j < n; j++)
        {
            int jRow = j * n;
            double d = a[jRow + j] - TensorPrimitives.Dot<double>(a.AsSpan(jRow, j), a.AsSpan(jRow, j));
            if (!(d > 0) || !double.IsFinite(d)) return false;
            double ljj = Math.Sqrt(d);
            a[jRow + j] = ljj;
            int jj = j;
            void Column(int i)
            {
                int iRow = i * n;
                a[iRow + jj] = (a[iRow + jj] - TensorPrimitives.Dot<double>(a.AsSpan(iRow, jj), a.AsSpan(jRow, jj))) / ljj;
            }
            if ((long)(n - j) * j < 1 << 15)
                for (int i = j + 1; i < n; i++) Column(i);
            else
                Parallel.For(j + 1, n, Column);
        }
        return true;
    }

    /// <summary>Given lower L (in <paramref name="l"/>), writes T = (L⁻¹)ᵀ, upper, into <paramref name="t"/>:
    /// row j of T is column j of L⁻¹, found by forward substitution; columns are independent.</summary>
    public static void InverseLowerTransposed(double[] l, double[] t, int n)
    {
        Parallel.For(0, n, j =>
        {
            var x = t.AsSpan(j * n, n);
            x.Slice(0, j).Clear();
            x[j] = 1.0 / l[j * n + j];
            for (int i = j + 1; i < n; i++)
                x[i] = -TensorPrimitives.Dot<double>(l.AsSpan(i * n + j, i - j), x.Slice(j, i - j)) / l[i * n + i];
        });
    }

    /// <summary>Lower triangle of T·Tᵀ for upper T: (TTᵀ)[a, b] = Σ_{i ≥ a} T[a, i]·T[b, i] for a ≥ b.</summary>
    public static void UpperTimesTransposeLower(double[] t, double[] result, int n)
    {
        Parallel.For(0, n, a =>
        {
            var ta = t.AsSpan(a * n + a, n - a);
            for (int b = 0; b <= a; b++)
                result[a * n + b] = TensorPrimitives.Dot<double>(ta, t.AsSpan(b * n + a, n - a));
        });
    }
}
