using NUnit.Framework;
using Rose.Pruning.Cpu;

namespace Rose.Tests.Pruning;

/// <summary>The CPU backend's blocked GEMM (Hessian folds, OBS trailing updates) computes every element
/// exactly as the plain loop c ← fma(alpha·a, b, c) over k in order does (from c ← beta·c), whatever the blocking.</summary>
[TestFixture]
public class DenseKernelTests
{
    private static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
        return v;
    }

    // Shapes around the register block (4 rows × 16 or 32 columns), the row tile and the depth tile (256).
    [TestCase(1, 1, 1, false)]
    [TestCase(5, 17, 3, false)]
    [TestCase(19, 33, 300, false)]
    [TestCase(64, 64, 513, true)]
    [TestCase(37, 37, 70, true)]
    [TestCase(4, 100, 257, false)]
    // Widths that end in the narrow 8- and 4-wide blocks and a scalar remainder (172 = the sample's MLP width).
    [TestCase(172, 172, 40, true)]
    [TestCase(9, 45, 33, false)]
    [TestCase(8, 13, 5, true)]
    [TestCase(12, 29, 7, false)]
    [TestCase(40, 40, 0, true)]
    public void BlockedMultiplyAddEqualsThePlainLoop(int m, int n, int k, bool upper)
    {
        // The chosen tiling; tiles of 8-row blocks, a 4-row block and single rows (15), of a 4-row block and
        // single rows (6) or single rows only (1), panels ending in every narrow strip, depth tiles shorter
        // than most k, B packed and in place; one panel across the whole width.
        foreach (GemmTiling? tiling in new GemmTiling?[]
                 { null, new(15, 64, 7), new(6, 32, 5), new(6, 32, 5, PackB: false), new(1, 32, 1), new(16, int.MaxValue, 256) })
            foreach (float beta in new[] { 1f, 0.75f })
                AssertPlainLoop(m, n, k, upper, tiling, beta);
    }

    private static void AssertPlainLoop(int m, int n, int k, bool upper, GemmTiling? tiling, float beta)
    {
        // Offsets and leading dimensions wider than the operands, as the OBS trailing update passes them.
        int lda = k + 3, ldb = n + 5, ldc = n + 7, aOff = 2, bOff = 11, cOff = 4;
        var a = Random(aOff + m * lda, 1);
        var b = Random(bOff + k * ldb, 2);
        var c = Random(cOff + m * ldc, 3);
        for (int i = 0; i < a.Length; i += 7) a[i] = 0f; // the old kernel skipped zeros; the result must not care
        var expected = (float[])c.Clone();
        const float alpha = -0.37f;
        for (int r = 0; r < m; r++)
            for (int j = upper ? r : 0; j < n; j++)
            {
                float sum = beta * expected[cOff + r * ldc + j];
                for (int kk = 0; kk < k; kk++)
                {
                    sum = MathF.FusedMultiplyAdd(alpha * a[aOff + r * lda + kk], b[bOff + kk * ldb + j], sum);
                }
                expected[cOff + r * ldc + j] = sum;
            }
        DenseKernels.MultiplyAdd(m, n, k, alpha, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, upperTilesOnly: upper, tiling: tiling, beta: beta);
        for (int r = 0; r < m; r++)
            for (int j = upper ? r : 0; j < n; j++)
                Assert.That(c[cOff + r * ldc + j], Is.EqualTo(expected[cOff + r * ldc + j]), $"C[{r}, {j}] with {tiling}, beta {beta}");
        // Outside the m × n window nothing is touched.
        for (int r = 0; r < m; r++)
            for (int j = n; j < ldc && cOff + r * ldc + j < c.Length; j++)
                Assert.That(c[cOff + r * ldc + j], Is.EqualTo(Random(cOff + m * ldc, 3)[cOff + r * ldc + j]), $"C[{r}, {j}] beyond n");
    }
}
