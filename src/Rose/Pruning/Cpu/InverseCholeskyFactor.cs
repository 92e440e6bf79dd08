using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Rose.Pruning.Cpu;

/// <summary>The upper U with UᵀU = H⁻¹ for a symmetric positive definite H (lower triangle read),
/// accumulated in double and stored in float.
/// <para>With J the reversal permutation, lower Cholesky of JHJ = L̃L̃ᵀ gives H = RRᵀ for the upper
/// R = JL̃J, so H⁻¹ = R⁻ᵀR⁻¹ and, the upper Cholesky factor being unique, U = R⁻¹ = JL̃⁻¹J. One
/// Cholesky and one triangular inverse (2n³/3 flops) thus replace Cholesky, inverse, L⁻ᵀL⁻¹ and a
/// second Cholesky (4n³/3), and H⁻¹ is never formed, so its rounding cannot make a second
/// factorization fail.</para>
/// <para>The work runs in one buffer holding only the lower tiles, each a contiguous
/// <see cref="B"/>×<see cref="B"/> row-major block (half an n×n double buffer), padded with an
/// identity block so every kernel sees whole tiles. All O(n³) work is tile products on a
/// register-blocked FMA kernel (Vector512 where accelerated, else Vector256), parallel over
/// tiles.</para></summary>
internal static class InverseCholeskyFactor
{
    /// <summary>Tile edge: three tiles (96 KiB) stay in L2, both micro-kernels (4×16, 4×32) divide
    /// it, and it measured faster than 128 at n = 2048 and 4096 on two cores.</summary>
    internal const int B = 64;
    private const int TileSize = B * B;

    internal enum Write { Store, Add, Subtract, NegateStore }

    [ThreadStatic] private static double[]? s_scratch;

    /// <summary>Writes U (n×n row-major, zero below the diagonal) into <paramref name="u"/>; false
    /// when H is not positive definite (a non-positive or non-finite pivot) or U does not fit in
    /// float. <paramref name="h"/> is only read.</summary>
    public static bool TryCompute(float[] h, float[] u, int n)
    {
        if (n == 0) return true;
        int nt = (n + B - 1) / B;
        var tiles = new double[(long)nt * (nt + 1) / 2 * TileSize];
        var diagonalInverse = new double[(long)nt * TileSize];
        var column = new double[(long)nt * TileSize];
        LoadReversed(h, n, nt, tiles);
        if (!FactorLower(tiles, nt, diagonalInverse, column)) return false;
        InvertLower(tiles, nt, diagonalInverse, column);
        return StoreReversedUpper(tiles, n, u);
    }

    private static int Tile(int i, int j) => (int)(((long)i * (i + 1) / 2 + j) * TileSize);

    private static Span<double> At(double[] buffer, int offset) => buffer.AsSpan(offset, TileSize);

    /// <summary>A[i, j] = H[n−1−j, n−1−i] for j ≤ i (JHJ read from H's lower triangle); the padding
    /// rows and columns past n form an identity block, which factors and inverts to itself.</summary>
    private static void LoadReversed(float[] h, int n, int nt, double[] tiles) =>
        Parallel.For(0, nt, ti => LoadTileRow(h, n, ti, tiles));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LoadTileRow(float[] h, int n, int ti, double[] tiles)
    {
        for (int tj = 0; tj <= ti; tj++)
        {
            var t = At(tiles, Tile(ti, tj));
            for (int r = 0; r < B; r++)
            {
                int i = ti * B + r;
                if (i >= n)
                {
                    if (ti == tj) t[r * B + r] = 1.0;
                    continue;
                }
                int cEnd = Math.Min(ti == tj ? r + 1 : B, n - tj * B);
                long hColumn = n - 1 - i;
                for (int c = 0; c < cEnd; c++)
                    t[r * B + c] = h[(long)(n - 1 - tj * B - c) * n + hColumn];
            }
        }
    }

    /// <summary>Right-looking tiled Cholesky in place. Each step factors the diagonal tile, solves
    /// the panel below it against that tile's inverse, then subtracts the panel's outer product from
    /// the trailing lower tiles. <paramref name="column"/> keeps the panel transposed so the
    /// trailing product reads both operands row-wise.</summary>
    private static bool FactorLower(double[] tiles, int nt, double[] diagonalInverse, double[] column)
    {
        var inverseTransposed = new double[TileSize];
        for (int k = 0; k < nt; k++)
        {
            var dk = At(tiles, Tile(k, k));
            if (!FactorDiagonalTile(dk)) return false;
            var inv = At(diagonalInverse, k * TileSize);
            InvertLowerTile(dk, inv);
            if (k == nt - 1) break;
            Transpose(inv, inverseTransposed);
            int kk = k, remaining = nt - 1 - k;
            // Panel: L(i,k) = A(i,k)·L(k,k)⁻ᵀ, then its transpose into the column scratch.
            Parallel.For(kk + 1, nt, i =>
            {
                var aik = At(tiles, Tile(i, kk));
                var slot = At(column, i * TileSize);
                Multiply(aik, inverseTransposed, slot, Write.Store);
                slot.CopyTo(aik);
                Transpose(aik, slot);
            });
            // Trailing update A(i,j) −= L(i,k)·L(j,k)ᵀ for k < j ≤ i; the heaviest rows go first.
            Parallel.For(0, remaining, q =>
            {
                int i = nt - 1 - q;
                var lik = At(tiles, Tile(i, kk));
                int rowStart = Tile(i, 0);
                for (int j = kk + 1; j <= i; j++)
                    Multiply(lik, At(column, j * TileSize), At(tiles, rowStart + j * TileSize), Write.Subtract);
            });
        }
        return true;
    }

    /// <summary>X = L⁻¹ in place, tile columns right to left from XL = I:
    /// X(i,j) = −(Σ_{m=j+1..i} X(i,m)·L(m,j))·L(j,j)⁻¹. Column j's results wait in
    /// <paramref name="column"/> because the column's L tiles are read until all its rows are done.</summary>
    private static void InvertLower(double[] tiles, int nt, double[] diagonalInverse, double[] column)
    {
        for (int j = nt - 1; j >= 0; j--)
        {
            int jj = j;
            var invJ = diagonalInverse.AsSpan(j * TileSize, TileSize);
            if (j < nt - 1)
            {
                Parallel.For(0, nt - 1 - jj, q =>
                {
                    int i = nt - 1 - q;
                    var acc = s_scratch ??= new double[TileSize];
                    int rowStart = Tile(i, 0);
                    for (int m = jj + 1; m <= i; m++)
                        Multiply(At(tiles, rowStart + m * TileSize), At(tiles, Tile(m, jj)), acc,
                            m == jj + 1 ? Write.Store : Write.Add);
                    Multiply(acc, diagonalInverse.AsSpan(jj * TileSize, TileSize), At(column, i * TileSize), Write.NegateStore);
                });
                Parallel.For(jj + 1, nt, i => At(column, i * TileSize).CopyTo(At(tiles, Tile(i, jj))));
            }
            invJ.CopyTo(At(tiles, Tile(j, j)));
        }
    }

    /// <summary>U = JXJ: U[p, q] = X[n−1−p, n−1−q] for q ≥ p, zero below.
    /// False when a value overflows float.</summary>
    private static bool StoreReversedUpper(double[] tiles, int n, float[] u)
    {
        int bad = 0;
        Parallel.For(0, n, p =>
        {
            if (!StoreRow(tiles, n, p, u)) Volatile.Write(ref bad, 1);
        });
        return bad == 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool StoreRow(double[] tiles, int n, int p, float[] u)
    {
        var row = u.AsSpan((int)((long)p * n), n);
        row.Slice(0, p).Clear();
        int a = n - 1 - p, ta = a / B, ra = a % B;
        int q = p;
        bool finite = true;
        for (int tb = ta; tb >= 0; tb--)
        {
            var src = tiles.AsSpan(Tile(ta, tb) + ra * B, B);
            for (int cb = tb == ta ? ra : B - 1; cb >= 0; cb--)
            {
                float v = (float)src[cb];
                finite &= float.IsFinite(v);
                row[q++] = v;
            }
        }
        return finite;
    }

    /// <summary>Unblocked lower Cholesky of one tile (lower read); the upper part is zeroed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool FactorDiagonalTile(Span<double> t)
    {
        for (int j = 0; j < B; j++)
        {
            var lj = t.Slice(j * B, j);
            double d = t[j * B + j] - Dot(lj, lj);
            if (!(d > 0) || !double.IsFinite(d)) return false;
            double ljj = Math.Sqrt(d);
            t[j * B + j] = ljj;
            for (int i = j + 1; i < B; i++)
                t[i * B + j] = (t[i * B + j] - Dot(t.Slice(i * B, j), lj)) / ljj;
        }
        for (int i = 0; i < B - 1; i++) t.Slice(i * B + i + 1, B - 1 - i).Clear();
        return true;
    }

    /// <summary>Inverse of a lower triangular tile, column by column by forward substitution.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void InvertLowerTile(ReadOnlySpan<double> l, Span<double> x)
    {
        x.Clear();
        Span<double> col = stackalloc double[B];
        for (int j = 0; j < B; j++)
        {
            col[j] = 1.0 / l[j * B + j];
            x[j * B + j] = col[j];
            for (int i = j + 1; i < B; i++)
            {
                col[i] = -Dot(l.Slice(i * B + j, i - j), col.Slice(j, i - j)) / l[i * B + i];
                x[i * B + j] = col[i];
            }
        }
    }

    /// <summary>A short dot product, local so the per-call O(B³) tile work runs optimized code from the
    /// first call (TensorPrimitives.Dot&lt;double&gt; starts unoptimized and took ~10 ms of a 1 ms
    /// n = 256 factorization until it tiered up).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double Dot(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        int n = x.Length, i = 0;
        var acc = Vector256<double>.Zero;
        ref double xr = ref MemoryMarshal.GetReference(x);
        ref double yr = ref MemoryMarshal.GetReference(y);
        if (y.Length < n) throw new ArgumentException("Dot operands differ in length.");
        for (; i <= n - 4; i += 4)
            acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i), Vector256.LoadUnsafe(ref yr, (nuint)i), acc);
        double s = Vector256.Sum(acc);
        for (; i < n; i++) s += Unsafe.Add(ref xr, i) * Unsafe.Add(ref yr, i);
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Transpose(ReadOnlySpan<double> source, Span<double> destination)
    {
        for (int r = 0; r < B; r++)
            for (int c = 0; c < B; c++)
                destination[c * B + r] = source[r * B + c];
    }

    /// <summary>C (op)= A·K on whole tiles, on the widest vectors the hardware runs natively.</summary>
    private static void Multiply(ReadOnlySpan<double> a, ReadOnlySpan<double> k, Span<double> c, Write write)
    {
        if (Vector512.IsHardwareAccelerated) Multiply512(a, k, c, write);
        else Multiply256(a, k, c, write);
    }

    /// <summary>C (op)= A·K for B×B row-major tiles, K read row-wise (K[k, c]). Register-blocked in
    /// 4 rows × 16 columns: per k, four broadcasts of A and four vector loads of K feed 16 FMAs;
    /// the 16-column strip of K (8 KiB) stays in L1 while the row blocks pass over it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Multiply256(ReadOnlySpan<double> a, ReadOnlySpan<double> k, Span<double> c, Write write)
    {
        if (a.Length < TileSize || k.Length < TileSize || c.Length < TileSize)
            throw new ArgumentException("Tile operands must hold a whole tile.");
        ref double a0 = ref MemoryMarshal.GetReference(a);
        ref double k0 = ref MemoryMarshal.GetReference(k);
        ref double c0 = ref MemoryMarshal.GetReference(c);
        for (int col = 0; col < B; col += 16)
        {
            ref double kCol = ref Unsafe.Add(ref k0, col);
            for (int row = 0; row < B; row += 4)
            {
                ref double r0 = ref Unsafe.Add(ref a0, row * B);
                ref double r1 = ref Unsafe.Add(ref r0, B);
                ref double r2 = ref Unsafe.Add(ref r0, 2 * B);
                ref double r3 = ref Unsafe.Add(ref r0, 3 * B);
                Vector256<double> s00 = default, s01 = default, s02 = default, s03 = default;
                Vector256<double> s10 = default, s11 = default, s12 = default, s13 = default;
                Vector256<double> s20 = default, s21 = default, s22 = default, s23 = default;
                Vector256<double> s30 = default, s31 = default, s32 = default, s33 = default;
                for (int d = 0; d < B; d++)
                {
                    ref double kRow = ref Unsafe.Add(ref kCol, d * B);
                    var k0v = Vector256.LoadUnsafe(ref kRow);
                    var k1v = Vector256.LoadUnsafe(ref kRow, 4);
                    var k2v = Vector256.LoadUnsafe(ref kRow, 8);
                    var k3v = Vector256.LoadUnsafe(ref kRow, 12);
                    var x = Vector256.Create(Unsafe.Add(ref r0, d));
                    s00 = Vector256.FusedMultiplyAdd(x, k0v, s00); s01 = Vector256.FusedMultiplyAdd(x, k1v, s01);
                    s02 = Vector256.FusedMultiplyAdd(x, k2v, s02); s03 = Vector256.FusedMultiplyAdd(x, k3v, s03);
                    x = Vector256.Create(Unsafe.Add(ref r1, d));
                    s10 = Vector256.FusedMultiplyAdd(x, k0v, s10); s11 = Vector256.FusedMultiplyAdd(x, k1v, s11);
                    s12 = Vector256.FusedMultiplyAdd(x, k2v, s12); s13 = Vector256.FusedMultiplyAdd(x, k3v, s13);
                    x = Vector256.Create(Unsafe.Add(ref r2, d));
                    s20 = Vector256.FusedMultiplyAdd(x, k0v, s20); s21 = Vector256.FusedMultiplyAdd(x, k1v, s21);
                    s22 = Vector256.FusedMultiplyAdd(x, k2v, s22); s23 = Vector256.FusedMultiplyAdd(x, k3v, s23);
                    x = Vector256.Create(Unsafe.Add(ref r3, d));
                    s30 = Vector256.FusedMultiplyAdd(x, k0v, s30); s31 = Vector256.FusedMultiplyAdd(x, k1v, s31);
                    s32 = Vector256.FusedMultiplyAdd(x, k2v, s32); s33 = Vector256.FusedMultiplyAdd(x, k3v, s33);
                }
                ref double o = ref Unsafe.Add(ref c0, row * B + col);
                Put(ref o, 0, s00, write); Put(ref o, 4, s01, write); Put(ref o, 8, s02, write); Put(ref o, 12, s03, write);
                o = ref Unsafe.Add(ref o, B);
                Put(ref o, 0, s10, write); Put(ref o, 4, s11, write); Put(ref o, 8, s12, write); Put(ref o, 12, s13, write);
                o = ref Unsafe.Add(ref o, B);
                Put(ref o, 0, s20, write); Put(ref o, 4, s21, write); Put(ref o, 8, s22, write); Put(ref o, 12, s23, write);
                o = ref Unsafe.Add(ref o, B);
                Put(ref o, 0, s30, write); Put(ref o, 4, s31, write); Put(ref o, 8, s32, write); Put(ref o, 12, s33, write);
            }
        }
    }

    /// <summary>The <see cref="Multiply256"/> scheme on Vector512: 4 rows × 32 columns, so each
    /// instruction does twice the work where AVX-512 is available.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Multiply512(ReadOnlySpan<double> a, ReadOnlySpan<double> k, Span<double> c, Write write)
    {
        if (a.Length < TileSize || k.Length < TileSize || c.Length < TileSize)
            throw new ArgumentException("Tile operands must hold a whole tile.");
        ref double a0 = ref MemoryMarshal.GetReference(a);
        ref double k0 = ref MemoryMarshal.GetReference(k);
        ref double c0 = ref MemoryMarshal.GetReference(c);
        for (int col = 0; col < B; col += 32)
        {
            ref double kCol = ref Unsafe.Add(ref k0, col);
            for (int row = 0; row < B; row += 4)
            {
                ref double r0 = ref Unsafe.Add(ref a0, row * B);
                ref double r1 = ref Unsafe.Add(ref r0, B);
                ref double r2 = ref Unsafe.Add(ref r0, 2 * B);
                ref double r3 = ref Unsafe.Add(ref r0, 3 * B);
                Vector512<double> s00 = default, s01 = default, s02 = default, s03 = default;
                Vector512<double> s10 = default, s11 = default, s12 = default, s13 = default;
                Vector512<double> s20 = default, s21 = default, s22 = default, s23 = default;
                Vector512<double> s30 = default, s31 = default, s32 = default, s33 = default;
                for (int d = 0; d < B; d++)
                {
                    ref double kRow = ref Unsafe.Add(ref kCol, d * B);
                    var k0v = Vector512.LoadUnsafe(ref kRow);
                    var k1v = Vector512.LoadUnsafe(ref kRow, 8);
                    var k2v = Vector512.LoadUnsafe(ref kRow, 16);
                    var k3v = Vector512.LoadUnsafe(ref kRow, 24);
                    var x = Vector512.Create(Unsafe.Add(ref r0, d));
                    s00 = Vector512.FusedMultiplyAdd(x, k0v, s00); s01 = Vector512.FusedMultiplyAdd(x, k1v, s01);
                    s02 = Vector512.FusedMultiplyAdd(x, k2v, s02); s03 = Vector512.FusedMultiplyAdd(x, k3v, s03);
                    x = Vector512.Create(Unsafe.Add(ref r1, d));
                    s10 = Vector512.FusedMultiplyAdd(x, k0v, s10); s11 = Vector512.FusedMultiplyAdd(x, k1v, s11);
                    s12 = Vector512.FusedMultiplyAdd(x, k2v, s12); s13 = Vector512.FusedMultiplyAdd(x, k3v, s13);
                    x = Vector512.Create(Unsafe.Add(ref r2, d));
                    s20 = Vector512.FusedMultiplyAdd(x, k0v, s20); s21 = Vector512.FusedMultiplyAdd(x, k1v, s21);
                    s22 = Vector512.FusedMultiplyAdd(x, k2v, s22); s23 = Vector512.FusedMultiplyAdd(x, k3v, s23);
                    x = Vector512.Create(Unsafe.Add(ref r3, d));
                    s30 = Vector512.FusedMultiplyAdd(x, k0v, s30); s31 = Vector512.FusedMultiplyAdd(x, k1v, s31);
                    s32 = Vector512.FusedMultiplyAdd(x, k2v, s32); s33 = Vector512.FusedMultiplyAdd(x, k3v, s33);
                }
                ref double o = ref Unsafe.Add(ref c0, row * B + col);
                Put(ref o, 0, s00, write); Put(ref o, 8, s01, write); Put(ref o, 16, s02, write); Put(ref o, 24, s03, write);
                o = ref Unsafe.Add(ref o, B);
                Put(ref o, 0, s10, write); Put(ref o, 8, s11, write); Put(ref o, 16, s12, write); Put(ref o, 24, s13, write);
                o = ref Unsafe.Add(ref o, B);
                Put(ref o, 0, s20, write); Put(ref o, 8, s21, write); Put(ref o, 16, s22, write); Put(ref o, 24, s23, write);
                o = ref Unsafe.Add(ref o, B);
                Put(ref o, 0, s30, write); Put(ref o, 8, s31, write); Put(ref o, 16, s32, write); Put(ref o, 24, s33, write);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(ref double destination, nuint offset, Vector256<double> value, Write write)
    {
        switch (write)
        {
            case Write.Store: value.StoreUnsafe(ref destination, offset); break;
            case Write.Add: (Vector256.LoadUnsafe(ref destination, offset) + value).StoreUnsafe(ref destination, offset); break;
            case Write.Subtract: (Vector256.LoadUnsafe(ref destination, offset) - value).StoreUnsafe(ref destination, offset); break;
            default: (-value).StoreUnsafe(ref destination, offset); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(ref double destination, nuint offset, Vector512<double> value, Write write)
    {
        switch (write)
        {
            case Write.Store: value.StoreUnsafe(ref destination, offset); break;
            case Write.Add: (Vector512.LoadUnsafe(ref destination, offset) + value).StoreUnsafe(ref destination, offset); break;
            case Write.Subtract: (Vector512.LoadUnsafe(ref destination, offset) - value).StoreUnsafe(ref destination, offset); break;
            default: (-value).StoreUnsafe(ref destination, offset); break;
        }
    }
}
