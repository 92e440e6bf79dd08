using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Rose.Pruning.Cpu;

namespace Rose.Bench.Pruning;

/// <summary>The CPU backend's GEMM before tiles of C and packed panels (kept here as the benchmark's
/// baseline): register blocks of 4 rows × 32 (AVX-512) or 16 columns read A and B where they lie, each task a
/// 16-row band of C across its whole width.</summary>
internal static class UnpackedGemm
{
    private const int RowTile = 16;
    private const int DepthTile = 256;
    private const int MicroRows = 4;

    /// <summary>C[m×n] += alpha · A[m×k] · B[k×n] as the backend computed it before its tiles and packing:
    /// 16-row bands of C across the whole width, B read in place (the same bits).</summary>
    public static void MultiplyAdd(int m, int n, int k, float alpha,
        float[] a, int aOffset, int lda, float[] b, int bOffset, int ldb, float[] c, int cOffset, int ldc,
        bool upperTilesOnly)
    {
        if (m == 0 || n == 0 || k == 0) return;
        int rowTiles = (m + RowTile - 1) / RowTile;
        Parallel.For(0, rowTiles, tile =>
        {
            int r0 = tile * RowTile, r1 = Math.Min(m, r0 + RowTile);
            for (int k0 = 0; k0 < k; k0 += DepthTile)
            {
                int k1 = Math.Min(k, k0 + DepthTile);
                int r = r0;
                for (; r + MicroRows <= r1; r += MicroRows)
                    Block4(r, upperTilesOnly ? r / Block * Block : 0, n, k0, k1, alpha, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
                for (; r < r1; r++)
                    Row(r, upperTilesOnly ? r / Block * Block : 0, n, k0, k1, alpha, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
            }
        });
    }

    /// <summary>Columns of C a register block covers: two vectors of the widest accelerated width.</summary>
    private static readonly int Block = Vector512.IsHardwareAccelerated ? 32 : 16;

    private static void Block4(int r, int jStart, int n, int k0, int k1, float alpha,
        float[] a, int aOffset, int lda, float[] b, int bOffset, int ldb, float[] c, int cOffset, int ldc)
    {
        int a0 = aOffset + r * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
        int c0 = cOffset + r * ldc, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
        int j = jStart;
        ref float aRef = ref MemoryMarshal.GetArrayDataReference(a);
        ref float bRef = ref MemoryMarshal.GetArrayDataReference(b);
        ref float cRef = ref MemoryMarshal.GetArrayDataReference(c);
        // Bounds are the caller's contract (checked once here, not per element).
        if (a.Length < a3 + k1 || c.Length < c3 + n || (k1 > k0 && b.Length < bOffset + (k1 - 1) * ldb + n))
            throw new ArgumentException("operand arrays are smaller than their dimensions say");
        if (Vector512.IsHardwareAccelerated)
        {
            for (; j + 32 <= n; j += 32)
            {
                var x00 = Vector512.LoadUnsafe(ref cRef, (nuint)(c0 + j)); var x01 = Vector512.LoadUnsafe(ref cRef, (nuint)(c0 + j + 16));
                var x10 = Vector512.LoadUnsafe(ref cRef, (nuint)(c1 + j)); var x11 = Vector512.LoadUnsafe(ref cRef, (nuint)(c1 + j + 16));
                var x20 = Vector512.LoadUnsafe(ref cRef, (nuint)(c2 + j)); var x21 = Vector512.LoadUnsafe(ref cRef, (nuint)(c2 + j + 16));
                var x30 = Vector512.LoadUnsafe(ref cRef, (nuint)(c3 + j)); var x31 = Vector512.LoadUnsafe(ref cRef, (nuint)(c3 + j + 16));
                for (int kk = k0; kk < k1; kk++)
                {
                    nuint at = (nuint)(bOffset + kk * ldb + j);
                    var y0 = Vector512.LoadUnsafe(ref bRef, at);
                    var y1 = Vector512.LoadUnsafe(ref bRef, at + 16);
                    var s0 = Vector512.Create(alpha * Unsafe.Add(ref aRef, a0 + kk));
                    var s1 = Vector512.Create(alpha * Unsafe.Add(ref aRef, a1 + kk));
                    var s2 = Vector512.Create(alpha * Unsafe.Add(ref aRef, a2 + kk));
                    var s3 = Vector512.Create(alpha * Unsafe.Add(ref aRef, a3 + kk));
                    x00 = Vector512.FusedMultiplyAdd(s0, y0, x00); x01 = Vector512.FusedMultiplyAdd(s0, y1, x01);
                    x10 = Vector512.FusedMultiplyAdd(s1, y0, x10); x11 = Vector512.FusedMultiplyAdd(s1, y1, x11);
                    x20 = Vector512.FusedMultiplyAdd(s2, y0, x20); x21 = Vector512.FusedMultiplyAdd(s2, y1, x21);
                    x30 = Vector512.FusedMultiplyAdd(s3, y0, x30); x31 = Vector512.FusedMultiplyAdd(s3, y1, x31);
                }
                x00.StoreUnsafe(ref cRef, (nuint)(c0 + j)); x01.StoreUnsafe(ref cRef, (nuint)(c0 + j + 16));
                x10.StoreUnsafe(ref cRef, (nuint)(c1 + j)); x11.StoreUnsafe(ref cRef, (nuint)(c1 + j + 16));
                x20.StoreUnsafe(ref cRef, (nuint)(c2 + j)); x21.StoreUnsafe(ref cRef, (nuint)(c2 + j + 16));
                x30.StoreUnsafe(ref cRef, (nuint)(c3 + j)); x31.StoreUnsafe(ref cRef, (nuint)(c3 + j + 16));
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; j + 16 <= n; j += 16)
            {
                var x00 = Vector256.LoadUnsafe(ref cRef, (nuint)(c0 + j)); var x01 = Vector256.LoadUnsafe(ref cRef, (nuint)(c0 + j + 8));
                var x10 = Vector256.LoadUnsafe(ref cRef, (nuint)(c1 + j)); var x11 = Vector256.LoadUnsafe(ref cRef, (nuint)(c1 + j + 8));
                var x20 = Vector256.LoadUnsafe(ref cRef, (nuint)(c2 + j)); var x21 = Vector256.LoadUnsafe(ref cRef, (nuint)(c2 + j + 8));
                var x30 = Vector256.LoadUnsafe(ref cRef, (nuint)(c3 + j)); var x31 = Vector256.LoadUnsafe(ref cRef, (nuint)(c3 + j + 8));
                for (int kk = k0; kk < k1; kk++)
                {
                    nuint at = (nuint)(bOffset + kk * ldb + j);
                    var y0 = Vector256.LoadUnsafe(ref bRef, at);
                    var y1 = Vector256.LoadUnsafe(ref bRef, at + 8);
                    var s0 = Vector256.Create(alpha * Unsafe.Add(ref aRef, a0 + kk));
                    var s1 = Vector256.Create(alpha * Unsafe.Add(ref aRef, a1 + kk));
                    var s2 = Vector256.Create(alpha * Unsafe.Add(ref aRef, a2 + kk));
                    var s3 = Vector256.Create(alpha * Unsafe.Add(ref aRef, a3 + kk));
                    x00 = Vector256.FusedMultiplyAdd(s0, y0, x00); x01 = Vector256.FusedMultiplyAdd(s0, y1, x01);
                    x10 = Vector256.FusedMultiplyAdd(s1, y0, x10); x11 = Vector256.FusedMultiplyAdd(s1, y1, x11);
                    x20 = Vector256.FusedMultiplyAdd(s2, y0, x20); x21 = Vector256.FusedMultiplyAdd(s2, y1, x21);
                    x30 = Vector256.FusedMultiplyAdd(s3, y0, x30); x31 = Vector256.FusedMultiplyAdd(s3, y1, x31);
                }
                x00.StoreUnsafe(ref cRef, (nuint)(c0 + j)); x01.StoreUnsafe(ref cRef, (nuint)(c0 + j + 8));
                x10.StoreUnsafe(ref cRef, (nuint)(c1 + j)); x11.StoreUnsafe(ref cRef, (nuint)(c1 + j + 8));
                x20.StoreUnsafe(ref cRef, (nuint)(c2 + j)); x21.StoreUnsafe(ref cRef, (nuint)(c2 + j + 8));
                x30.StoreUnsafe(ref cRef, (nuint)(c3 + j)); x31.StoreUnsafe(ref cRef, (nuint)(c3 + j + 8));
            }
        }
        {
            // The narrow tail: one vector per row, 8 then 4 wide.
            if (Vector256.IsHardwareAccelerated)
            {
                for (; j + 8 <= n; j += 8)
                {
                    var x0 = Vector256.LoadUnsafe(ref cRef, (nuint)(c0 + j)); var x1 = Vector256.LoadUnsafe(ref cRef, (nuint)(c1 + j));
                    var x2 = Vector256.LoadUnsafe(ref cRef, (nuint)(c2 + j)); var x3 = Vector256.LoadUnsafe(ref cRef, (nuint)(c3 + j));
                    for (int kk = k0; kk < k1; kk++)
                    {
                        var y = Vector256.LoadUnsafe(ref bRef, (nuint)(bOffset + kk * ldb + j));
                        x0 = Vector256.FusedMultiplyAdd(Vector256.Create(alpha * Unsafe.Add(ref aRef, a0 + kk)), y, x0);
                        x1 = Vector256.FusedMultiplyAdd(Vector256.Create(alpha * Unsafe.Add(ref aRef, a1 + kk)), y, x1);
                        x2 = Vector256.FusedMultiplyAdd(Vector256.Create(alpha * Unsafe.Add(ref aRef, a2 + kk)), y, x2);
                        x3 = Vector256.FusedMultiplyAdd(Vector256.Create(alpha * Unsafe.Add(ref aRef, a3 + kk)), y, x3);
                    }
                    x0.StoreUnsafe(ref cRef, (nuint)(c0 + j)); x1.StoreUnsafe(ref cRef, (nuint)(c1 + j));
                    x2.StoreUnsafe(ref cRef, (nuint)(c2 + j)); x3.StoreUnsafe(ref cRef, (nuint)(c3 + j));
                }
            }
            if (Vector128.IsHardwareAccelerated)
            {
                for (; j + 4 <= n; j += 4)
                {
                    var x0 = Vector128.LoadUnsafe(ref cRef, (nuint)(c0 + j)); var x1 = Vector128.LoadUnsafe(ref cRef, (nuint)(c1 + j));
                    var x2 = Vector128.LoadUnsafe(ref cRef, (nuint)(c2 + j)); var x3 = Vector128.LoadUnsafe(ref cRef, (nuint)(c3 + j));
                    for (int kk = k0; kk < k1; kk++)
                    {
                        var y = Vector128.LoadUnsafe(ref bRef, (nuint)(bOffset + kk * ldb + j));
                        x0 = Vector128.FusedMultiplyAdd(Vector128.Create(alpha * Unsafe.Add(ref aRef, a0 + kk)), y, x0);
                        x1 = Vector128.FusedMultiplyAdd(Vector128.Create(alpha * Unsafe.Add(ref aRef, a1 + kk)), y, x1);
                        x2 = Vector128.FusedMultiplyAdd(Vector128.Create(alpha * Unsafe.Add(ref aRef, a2 + kk)), y, x2);
                        x3 = Vector128.FusedMultiplyAdd(Vector128.Create(alpha * Unsafe.Add(ref aRef, a3 + kk)), y, x3);
                    }
                    x0.StoreUnsafe(ref cRef, (nuint)(c0 + j)); x1.StoreUnsafe(ref cRef, (nuint)(c1 + j));
                    x2.StoreUnsafe(ref cRef, (nuint)(c2 + j)); x3.StoreUnsafe(ref cRef, (nuint)(c3 + j));
                }
            }
        }
        for (int i = 0; i < MicroRows; i++)
            Row(r + i, j, n, k0, k1, alpha, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
    }

    // One row of C as the backend still computes its leftover rows (the same function).
    private static void Row(int r, int jStart, int n, int k0, int k1, float alpha,
        float[] a, int aOffset, int lda, float[] b, int bOffset, int ldb, float[] c, int cOffset, int ldc) =>
        DenseKernels.Row(r, jStart, n, k0, k1, alpha, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
}
