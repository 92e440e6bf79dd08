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

    private const int FactorPanel = 64;

    /// <summary>In-place lower Cholesky of the symmetric n×n matrix (lower triangle read) in double;
    /// afterwards the lower triangle holds L with A = LLᵀ. False on a non-positive or non-finite pivot.
    /// Right-looking and blocked by column panels of 64 so the trailing update's dot products run
    /// over a panel that stays in cache, instead of re-streaming the whole triangle per column.</summary>
    public static bool CholeskyLower(double[] a, int n)
    {
        for (int k0 = 0; k0 < n; k0 += FactorPanel)
        {
            int k1 = Math.Min(n, k0 + FactorPanel);
            // Diagonal block (earlier panels are already subtracted from it).
            for (int j = k0; j < k1; j++)
            {
                int jr = j * n;
                var lj = a.AsSpan(jr + k0, j - k0);
                double d = a[jr + j] - TensorPrimitives.Dot<double>(lj, lj);
                if (!(d > 0) || !double.IsFinite(d)) return false;
                double ljj = Math.Sqrt(d);
                a[jr + j] = ljj;
                for (int i = j + 1; i < k1; i++)
                    a[i * n + j] = (a[i * n + j] - TensorPrimitives.Dot<double>(a.AsSpan(i * n + k0, j - k0), lj)) / ljj;
            }
            if (k1 == n) break;
            int kk0 = k0, kk1 = k1;
            // Panel below the diagonal block: forward substitution per row.
            Parallel.For(k1, n, i =>
            {
                int ir = i * n;
                for (int j = kk0; j < kk1; j++)
                    a[ir + j] = (a[ir + j] - TensorPrimitives.Dot<double>(a.AsSpan(ir + kk0, j - kk0), a.AsSpan(j * n + kk0, j - kk0)))
                        / a[j * n + j];
            });
            // Trailing lower update A[i, j] −= L[i, panel]·L[j, panel], k1 ≤ j ≤ i.
            Parallel.For(k1, n, i =>
            {
                var li = a.AsSpan(i * n + kk0, kk1 - kk0);
                int ir = i * n;
                for (int j = kk1; j <= i; j++)
                    a[ir + j] -= TensorPrimitives.Dot<double>(li, a.AsSpan(j * n + kk0, kk1 - kk0));
            });
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

    /// <summary>Lower triangle of T·Tᵀ for upper T: (TTᵀ)[a, b] = Σ_{i ≥ a} T[a, i]·T[b, i] for a ≥ b.
    /// Accumulated over column panels of T so each pass reads a cache-sized slice.</summary>
    public static void UpperTimesTransposeLower(double[] t, double[] result, int n)
    {
        Parallel.For(0, n, a => result.AsSpan(a * n, a + 1).Clear());
        for (int i0 = 0; i0 < n; i0 += FactorPanel)
        {
            int i1 = Math.Min(n, i0 + FactorPanel);
            // Row a contributes T[a, i] only for i ≥ a, so rows a ≥ i1 see nothing of this panel.
            Parallel.For(0, i1, a =>
            {
                int start = Math.Max(a, i0);
                var ta = t.AsSpan(a * n + start, i1 - start);
                for (int b = 0; b <= a; b++)
                    result[a * n + b] += TensorPrimitives.Dot<double>(ta, t.AsSpan(b * n + start, i1 - start));
            });
        }
    }
}
