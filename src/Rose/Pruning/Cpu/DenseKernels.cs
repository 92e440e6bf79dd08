using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Rose.Pruning.Cpu;

/// <summary>Blocked, row-parallel dense kernels of the CPU reference backend.</summary>
internal static class DenseKernels
{
    /// <summary>C[m×n] += alpha · A[m×k] · B[k×n], all row-major with leading dimensions. Every element
    /// of C takes, for kk = 0..k−1 in order, c ← fma(alpha·a[r, kk], b[kk, j], c) (one rounding per step, as
    /// cuBLAS and PyTorch's CPU GEMMs accumulate; half the instructions of a multiply and an add), as the
    /// plain loop with <see cref="MathF.FusedMultiplyAdd"/> would, so results depend neither on the CPU
    /// (where FMA is not in hardware .NET computes it exactly in software, slowly) nor on the
    /// <paramref name="tiling"/>. Each task owns a tile of C; per depth tile it copies its rows of alpha·A and
    /// its panel of B into contiguous buffers in the order the register blocks read them (8 rows × 32
    /// columns with AVX-512, 4 × 16 with AVX2, then 8, 4 and 1 columns at the right edge), so the panel is
    /// read from memory once per tile and from L2 by every 8 rows, whatever B's leading dimension (a power
    /// of two such as 4096 put a strided panel's rows in the same few cache sets).
    /// With <paramref name="upperTilesOnly"/> (m = n) blocks entirely below the diagonal are skipped;
    /// the caller then mirrors the upper triangle. With <paramref name="beta"/> ≠ 1 every element the product
    /// computes starts from c ← beta·c (rounded), as a separate scaling of C would give it.</summary>
    public static void MultiplyAdd(int m, int n, int k, float alpha,
        float[] a, int aOffset, int lda, float[] b, int bOffset, int ldb, float[] c, int cOffset, int ldc,
        bool upperTilesOnly = false, GemmTiling? tiling = null, float beta = 1f)
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (beta != 1f)
                for (int r = 0; r < m; r++)
                {
                    int start = upperTilesOnly ? Math.Min(n, r / Block * Block) : 0;
                    ScaleRow(c, cOffset + r * ldc + start, n - start, beta);
                }
            return;
        }
        var t = tiling ?? GemmTiling.For(m, n);
        if (t.Rows <= 0 || t.Columns <= 0 || t.Depth <= 0 || t.Columns % Block != 0 && t.Columns < n)
            throw new ArgumentException($"tiling {t}: positive sizes, and columns a multiple of {Block} unless they cover the width");
        // Bounds are the caller's contract, checked once here rather than per element.
        if (aOffset < 0 || bOffset < 0 || cOffset < 0 || a.Length < aOffset + (long)(m - 1) * lda + k
            || b.Length < bOffset + (long)(k - 1) * ldb + n || c.Length < cOffset + (long)(m - 1) * ldc + n)
            throw new ArgumentException("operand arrays are smaller than their dimensions say");
        int rowTiles = (m + t.Rows - 1) / t.Rows;
        int panels = (int)((n + (long)t.Columns - 1) / t.Columns);
        int depth = Math.Min(k, t.Depth);
        Parallel.For(0, rowTiles * panels, task =>
        {
            int r0 = task / panels * t.Rows, r1 = Math.Min(m, r0 + t.Rows);
            int j0 = task % panels * t.Columns, j1 = (int)Math.Min(n, (long)j0 + t.Columns);
            // Below the diagonal throughout: every row of the tile starts right of this panel.
            if (upperTilesOnly && r0 / Block * Block >= j1) return;
            int jp = First(r0), blockedRows = r0 + (r1 - r0) / 4 * 4;
            var packedA = ArrayPool<float>.Shared.Rent((blockedRows - r0) * depth);
            var packedB = t.PackB ? ArrayPool<float>.Shared.Rent((j1 - jp) * depth) : [];
            try
            {
                for (int k0 = 0; k0 < k; k0 += depth)
                {
                    int k1 = Math.Min(k, k0 + depth), kl = k1 - k0;
                    PackRows(a, aOffset, lda, r0, blockedRows, k0, kl, alpha, packedA);
                    if (t.PackB) PackPanel(b, bOffset, ldb, k0, kl, jp, j1, packedB);
                    for (int r = r0, rows; r < blockedRows; r += rows)
                    {
                        rows = GroupRows(blockedRows - r);
                        int rowStart = First(r), ap = (r - r0) * kl, bp = 0;
                        if (k0 == 0 && beta != 1f)
                            for (int i = 0; i < rows; i++) ScaleRow(c, cOffset + (r + i) * ldc + rowStart, j1 - rowStart, beta);
                        for (int j = jp, width; j < j1; j += width, bp += width * kl)
                        {
                            width = StripWidth(j1 - j);
                            if (j < rowStart) continue;
                            if (t.PackB) Strip(rows, width, packedA, ap, packedB, bp, width, kl, c, cOffset + r * ldc + j, ldc);
                            else Strip(rows, width, packedA, ap, b, bOffset + k0 * ldb + j, ldb, kl, c, cOffset + r * ldc + j, ldc);
                        }
                    }
                    for (int r = blockedRows; r < r1; r++)
                    {
                        if (k0 == 0 && beta != 1f) ScaleRow(c, cOffset + r * ldc + First(r), j1 - First(r), beta);
                        Row(r, First(r), j1, k0, k1, alpha, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(packedA);
                if (t.PackB) ArrayPool<float>.Shared.Return(packedB);
            }

            int First(int r) => upperTilesOnly ? Math.Max(j0, r / Block * Block) : j0;
        });
    }

    private static void ScaleRow(float[] c, int at, int length, float beta)
    {
        if (length <= 0) return;
        var row = c.AsSpan(at, length);
        TensorPrimitives.Multiply(row, beta, row);
    }

    /// <summary>Columns of C a full register block covers: two vectors of the widest accelerated width.</summary>
    private static readonly int Block = Vector512.IsHardwareAccelerated ? 32 : 16;

    /// <summary>The register block's width for a strip with <paramref name="remaining"/> columns left in the
    /// panel: full blocks, then the narrow ones, then single columns.</summary>
    private static int StripWidth(int remaining)
    {
        if (remaining >= 32 && Vector512.IsHardwareAccelerated) return 32;
        if (remaining >= 16 && Vector256.IsHardwareAccelerated) return 16;
        if (remaining >= 8 && Vector256.IsHardwareAccelerated) return 8;
        if (remaining >= 4 && Vector128.IsHardwareAccelerated) return 4;
        return 1;
    }

    /// <summary>Rows of C a register block covers: 8 where the remaining rows allow, else 4.</summary>
    private static int GroupRows(int remaining) => remaining >= 8 ? 8 : 4;

    /// <summary>Rows [r0, r1) (a multiple of 4) of alpha·A over depth [k0, k0+kl), in the register blocks'
    /// groups of rows, depth-major within each group: the values one step of a block broadcasts lie side by side.</summary>
    private static void PackRows(float[] a, int aOffset, int lda, int r0, int r1, int k0, int kl, float alpha, float[] packed)
    {
        for (int r = r0, rows; r < r1; r += rows)
        {
            rows = GroupRows(r1 - r);
            int at = (r - r0) * kl;
            for (int i = 0; i < rows; i++)
            {
                var row = a.AsSpan(aOffset + (r + i) * lda + k0, kl);
                for (int kk = 0; kk < row.Length; kk++)
                    packed[at + kk * rows + i] = alpha * row[kk];
            }
        }
    }

    /// <summary>B's rows [k0, k0+kl) and columns [j0, j1) as consecutive strips (the widths of
    /// <see cref="StripWidth"/>), each depth-major: a strip's step is one contiguous run.</summary>
    private static void PackPanel(float[] b, int bOffset, int ldb, int k0, int kl, int j0, int j1, float[] packed)
    {
        for (int j = j0, width, at = 0; j < j1; j += width, at += width * kl)
        {
            width = StripWidth(j1 - j);
            for (int kk = 0; kk < kl; kk++)
                b.AsSpan(bOffset + (k0 + kk) * ldb + j, width).CopyTo(packed.AsSpan(at + kk * width, width));
        }
    }

    /// <summary><paramref name="rows"/> (8 or 4) rows × <paramref name="width"/> columns of C (the first at
    /// <paramref name="c0"/>) accumulate kl steps of packed alpha·A (from <paramref name="ap"/>) times a strip of
    /// B (from <paramref name="bp"/>, consecutive steps <paramref name="ldb"/> apart: the strip's width when
    /// packed). 8 × 32 keeps 16 accumulators in flight (two FMA ports × four cycles of latency need eight at
    /// the least); the other widths take 8 rows as two blocks of 4, which AVX2's 16 registers hold.</summary>
    private static void Strip(int rows, int width, float[] packedA, int ap, float[] b, int bp, int ldb, int kl, float[] c, int c0, int ldc)
    {
        if (rows == 8 && width == 32)
        {
            Strip8x32(packedA, ap, b, bp, ldb, kl, c, c0, ldc);
            return;
        }
        for (int half = 0; half < rows; half += 4)
            Strip4(width, packedA, ap + half, rows, b, bp, ldb, kl, c, c0 + half * ldc, ldc);
    }

    private static void Strip8x32(float[] packedA, int ap, float[] b, int bp, int ldb, int kl, float[] c, int c0, int ldc)
    {
        ref float aRef = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(packedA), ap);
        ref float bRef = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(b), bp);
        ref float cRef = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(c), c0);
        nuint l = (nuint)ldc;
        var x00 = Vector512.LoadUnsafe(ref cRef); var x01 = Vector512.LoadUnsafe(ref cRef, 16);
        var x10 = Vector512.LoadUnsafe(ref cRef, l); var x11 = Vector512.LoadUnsafe(ref cRef, l + 16);
        var x20 = Vector512.LoadUnsafe(ref cRef, 2 * l); var x21 = Vector512.LoadUnsafe(ref cRef, 2 * l + 16);
        var x30 = Vector512.LoadUnsafe(ref cRef, 3 * l); var x31 = Vector512.LoadUnsafe(ref cRef, 3 * l + 16);
        var x40 = Vector512.LoadUnsafe(ref cRef, 4 * l); var x41 = Vector512.LoadUnsafe(ref cRef, 4 * l + 16);
        var x50 = Vector512.LoadUnsafe(ref cRef, 5 * l); var x51 = Vector512.LoadUnsafe(ref cRef, 5 * l + 16);
        var x60 = Vector512.LoadUnsafe(ref cRef, 6 * l); var x61 = Vector512.LoadUnsafe(ref cRef, 6 * l + 16);
        var x70 = Vector512.LoadUnsafe(ref cRef, 7 * l); var x71 = Vector512.LoadUnsafe(ref cRef, 7 * l + 16);
        for (int kk = 0; kk < kl; kk++)
        {
            var y0 = Vector512.LoadUnsafe(ref bRef, (nuint)(kk * ldb));
            var y1 = Vector512.LoadUnsafe(ref bRef, (nuint)(kk * ldb + 16));
            ref float s = ref Unsafe.Add(ref aRef, kk * 8);
            var s0 = Vector512.Create(s);
            x00 = Vector512.FusedMultiplyAdd(s0, y0, x00); x01 = Vector512.FusedMultiplyAdd(s0, y1, x01);
            var s1 = Vector512.Create(Unsafe.Add(ref s, 1));
            x10 = Vector512.FusedMultiplyAdd(s1, y0, x10); x11 = Vector512.FusedMultiplyAdd(s1, y1, x11);
            var s2 = Vector512.Create(Unsafe.Add(ref s, 2));
            x20 = Vector512.FusedMultiplyAdd(s2, y0, x20); x21 = Vector512.FusedMultiplyAdd(s2, y1, x21);
            var s3 = Vector512.Create(Unsafe.Add(ref s, 3));
            x30 = Vector512.FusedMultiplyAdd(s3, y0, x30); x31 = Vector512.FusedMultiplyAdd(s3, y1, x31);
            var s4 = Vector512.Create(Unsafe.Add(ref s, 4));
            x40 = Vector512.FusedMultiplyAdd(s4, y0, x40); x41 = Vector512.FusedMultiplyAdd(s4, y1, x41);
            var s5 = Vector512.Create(Unsafe.Add(ref s, 5));
            x50 = Vector512.FusedMultiplyAdd(s5, y0, x50); x51 = Vector512.FusedMultiplyAdd(s5, y1, x51);
            var s6 = Vector512.Create(Unsafe.Add(ref s, 6));
            x60 = Vector512.FusedMultiplyAdd(s6, y0, x60); x61 = Vector512.FusedMultiplyAdd(s6, y1, x61);
            var s7 = Vector512.Create(Unsafe.Add(ref s, 7));
            x70 = Vector512.FusedMultiplyAdd(s7, y0, x70); x71 = Vector512.FusedMultiplyAdd(s7, y1, x71);
        }
        x00.StoreUnsafe(ref cRef); x01.StoreUnsafe(ref cRef, 16);
        x10.StoreUnsafe(ref cRef, l); x11.StoreUnsafe(ref cRef, l + 16);
        x20.StoreUnsafe(ref cRef, 2 * l); x21.StoreUnsafe(ref cRef, 2 * l + 16);
        x30.StoreUnsafe(ref cRef, 3 * l); x31.StoreUnsafe(ref cRef, 3 * l + 16);
        x40.StoreUnsafe(ref cRef, 4 * l); x41.StoreUnsafe(ref cRef, 4 * l + 16);
        x50.StoreUnsafe(ref cRef, 5 * l); x51.StoreUnsafe(ref cRef, 5 * l + 16);
        x60.StoreUnsafe(ref cRef, 6 * l); x61.StoreUnsafe(ref cRef, 6 * l + 16);
        x70.StoreUnsafe(ref cRef, 7 * l); x71.StoreUnsafe(ref cRef, 7 * l + 16);
    }

    /// <summary>4 rows × <paramref name="width"/> columns; alpha·A's steps <paramref name="aStride"/> apart.</summary>
    private static void Strip4(int width, float[] packedA, int ap, int aStride, float[] b, int bp, int ldb, int kl, float[] c, int c0, int ldc)
    {
        ref float aRef = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(packedA), ap);
        ref float bRef = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(b), bp);
        ref float cRef = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(c), c0);
        nuint l1 = (nuint)ldc, l2 = 2 * l1, l3 = 3 * l1;
        switch (width)
        {
            case 32:
            {
                var x00 = Vector512.LoadUnsafe(ref cRef); var x01 = Vector512.LoadUnsafe(ref cRef, 16);
                var x10 = Vector512.LoadUnsafe(ref cRef, l1); var x11 = Vector512.LoadUnsafe(ref cRef, l1 + 16);
                var x20 = Vector512.LoadUnsafe(ref cRef, l2); var x21 = Vector512.LoadUnsafe(ref cRef, l2 + 16);
                var x30 = Vector512.LoadUnsafe(ref cRef, l3); var x31 = Vector512.LoadUnsafe(ref cRef, l3 + 16);
                for (int kk = 0; kk < kl; kk++)
                {
                    var y0 = Vector512.LoadUnsafe(ref bRef, (nuint)(kk * ldb));
                    var y1 = Vector512.LoadUnsafe(ref bRef, (nuint)(kk * ldb + 16));
                    ref float s = ref Unsafe.Add(ref aRef, kk * aStride);
                    var s0 = Vector512.Create(s); var s1 = Vector512.Create(Unsafe.Add(ref s, 1));
                    var s2 = Vector512.Create(Unsafe.Add(ref s, 2)); var s3 = Vector512.Create(Unsafe.Add(ref s, 3));
                    x00 = Vector512.FusedMultiplyAdd(s0, y0, x00); x01 = Vector512.FusedMultiplyAdd(s0, y1, x01);
                    x10 = Vector512.FusedMultiplyAdd(s1, y0, x10); x11 = Vector512.FusedMultiplyAdd(s1, y1, x11);
                    x20 = Vector512.FusedMultiplyAdd(s2, y0, x20); x21 = Vector512.FusedMultiplyAdd(s2, y1, x21);
                    x30 = Vector512.FusedMultiplyAdd(s3, y0, x30); x31 = Vector512.FusedMultiplyAdd(s3, y1, x31);
                }
                x00.StoreUnsafe(ref cRef); x01.StoreUnsafe(ref cRef, 16);
                x10.StoreUnsafe(ref cRef, l1); x11.StoreUnsafe(ref cRef, l1 + 16);
                x20.StoreUnsafe(ref cRef, l2); x21.StoreUnsafe(ref cRef, l2 + 16);
                x30.StoreUnsafe(ref cRef, l3); x31.StoreUnsafe(ref cRef, l3 + 16);
                break;
            }
            case 16:
            {
                var x00 = Vector256.LoadUnsafe(ref cRef); var x01 = Vector256.LoadUnsafe(ref cRef, 8);
                var x10 = Vector256.LoadUnsafe(ref cRef, l1); var x11 = Vector256.LoadUnsafe(ref cRef, l1 + 8);
                var x20 = Vector256.LoadUnsafe(ref cRef, l2); var x21 = Vector256.LoadUnsafe(ref cRef, l2 + 8);
                var x30 = Vector256.LoadUnsafe(ref cRef, l3); var x31 = Vector256.LoadUnsafe(ref cRef, l3 + 8);
                for (int kk = 0; kk < kl; kk++)
                {
                    var y0 = Vector256.LoadUnsafe(ref bRef, (nuint)(kk * ldb));
                    var y1 = Vector256.LoadUnsafe(ref bRef, (nuint)(kk * ldb + 8));
                    ref float s = ref Unsafe.Add(ref aRef, kk * aStride);
                    var s0 = Vector256.Create(s); var s1 = Vector256.Create(Unsafe.Add(ref s, 1));
                    var s2 = Vector256.Create(Unsafe.Add(ref s, 2)); var s3 = Vector256.Create(Unsafe.Add(ref s, 3));
                    x00 = Vector256.FusedMultiplyAdd(s0, y0, x00); x01 = Vector256.FusedMultiplyAdd(s0, y1, x01);
                    x10 = Vector256.FusedMultiplyAdd(s1, y0, x10); x11 = Vector256.FusedMultiplyAdd(s1, y1, x11);
                    x20 = Vector256.FusedMultiplyAdd(s2, y0, x20); x21 = Vector256.FusedMultiplyAdd(s2, y1, x21);
                    x30 = Vector256.FusedMultiplyAdd(s3, y0, x30); x31 = Vector256.FusedMultiplyAdd(s3, y1, x31);
                }
                x00.StoreUnsafe(ref cRef); x01.StoreUnsafe(ref cRef, 8);
                x10.StoreUnsafe(ref cRef, l1); x11.StoreUnsafe(ref cRef, l1 + 8);
                x20.StoreUnsafe(ref cRef, l2); x21.StoreUnsafe(ref cRef, l2 + 8);
                x30.StoreUnsafe(ref cRef, l3); x31.StoreUnsafe(ref cRef, l3 + 8);
                break;
            }
            case 8:
            {
                var x0 = Vector256.LoadUnsafe(ref cRef); var x1 = Vector256.LoadUnsafe(ref cRef, l1);
                var x2 = Vector256.LoadUnsafe(ref cRef, l2); var x3 = Vector256.LoadUnsafe(ref cRef, l3);
                for (int kk = 0; kk < kl; kk++)
                {
                    var y = Vector256.LoadUnsafe(ref bRef, (nuint)(kk * ldb));
                    ref float s = ref Unsafe.Add(ref aRef, kk * aStride);
                    x0 = Vector256.FusedMultiplyAdd(Vector256.Create(s), y, x0);
                    x1 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref s, 1)), y, x1);
                    x2 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref s, 2)), y, x2);
                    x3 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref s, 3)), y, x3);
                }
                x0.StoreUnsafe(ref cRef); x1.StoreUnsafe(ref cRef, l1); x2.StoreUnsafe(ref cRef, l2); x3.StoreUnsafe(ref cRef, l3);
                break;
            }
            case 4:
            {
                var x0 = Vector128.LoadUnsafe(ref cRef); var x1 = Vector128.LoadUnsafe(ref cRef, l1);
                var x2 = Vector128.LoadUnsafe(ref cRef, l2); var x3 = Vector128.LoadUnsafe(ref cRef, l3);
                for (int kk = 0; kk < kl; kk++)
                {
                    var y = Vector128.LoadUnsafe(ref bRef, (nuint)(kk * ldb));
                    ref float s = ref Unsafe.Add(ref aRef, kk * aStride);
                    x0 = Vector128.FusedMultiplyAdd(Vector128.Create(s), y, x0);
                    x1 = Vector128.FusedMultiplyAdd(Vector128.Create(Unsafe.Add(ref s, 1)), y, x1);
                    x2 = Vector128.FusedMultiplyAdd(Vector128.Create(Unsafe.Add(ref s, 2)), y, x2);
                    x3 = Vector128.FusedMultiplyAdd(Vector128.Create(Unsafe.Add(ref s, 3)), y, x3);
                }
                x0.StoreUnsafe(ref cRef); x1.StoreUnsafe(ref cRef, l1); x2.StoreUnsafe(ref cRef, l2); x3.StoreUnsafe(ref cRef, l3);
                break;
            }
            default:
            {
                for (int i = 0; i < 4; i++)
                {
                    ref float x = ref Unsafe.Add(ref cRef, (nuint)i * l1);
                    for (int kk = 0; kk < kl; kk++)
                        x = MathF.FusedMultiplyAdd(Unsafe.Add(ref aRef, kk * aStride + i), Unsafe.Add(ref bRef, kk * ldb), x);
                }
                break;
            }
        }
    }

    /// <summary>Columns [jStart, n) of one row of C, in the same order of operations.</summary>
    internal static void Row(int r, int jStart, int n, int k0, int k1, float alpha,
        float[] a, int aOffset, int lda, float[] b, int bOffset, int ldb, float[] c, int cOffset, int ldc)
    {
        if (jStart >= n) return;
        var cRow = c.AsSpan(cOffset + r * ldc + jStart, n - jStart);
        int aRow = aOffset + r * lda;
        for (int kk = k0; kk < k1; kk++)
        {
            float aik = alpha * a[aRow + kk];
            var bRow = b.AsSpan(bOffset + kk * ldb + jStart, cRow.Length);
            for (int j = 0; j < cRow.Length; j++)
                cRow[j] = MathF.FusedMultiplyAdd(aik, bRow[j], cRow[j]);
        }
    }

    /// <summary>Transpose of a rows×cols row-major matrix into cols×rows, in 32 × 32 tiles; bands of
    /// source columns (destination rows) go to different cores.</summary>
    public static unsafe void Transpose(ReadOnlySpan<float> source, int rows, int cols, float[] destination)
    {
        const int T = 32;
        if ((long)rows * cols > source.Length || (long)rows * cols > destination.Length)
            throw new ArgumentException($"a {rows}×{cols} transpose needs {(long)rows * cols} values");
        fixed (float* src = source)
        {
            float* s = src;
            void Band(int band)
            {
                int c0 = band * T, c1 = Math.Min(cols, c0 + T);
                for (int r0 = 0; r0 < rows; r0 += T)
                {
                    int r1 = Math.Min(rows, r0 + T);
                    for (int r = r0; r < r1; r++)
                        for (int c = c0; c < c1; c++)
                            destination[c * rows + r] = s[r * cols + c];
                }
            }
            int bands = (cols + T - 1) / T;
            if ((long)rows * cols < 1 << 16) for (int b = 0; b < bands; b++) Band(b);
            else Parallel.For(0, bands, Band);
        }
    }
}
