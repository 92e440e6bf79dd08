using NUnit.Framework;
using System.Runtime.Intrinsics;
using Rose.Pruning.Cpu;

namespace Rose.Tests.Pruning;

/// <summary>The tiled CPU factor U (UᵀU = H⁻¹) against the textbook route (Gauss–Jordan inverse,
/// then upper Cholesky) at sizes around the 64-wide tile edges, plus the non-PD reports.</summary>
[TestFixture]
public class CholeskyInverseUpperTiledTests
{
    /// <summary>H = AAᵀ/n + ridge·I with Gaussian A (n×rank): SPD, and ill-conditioned when rank &lt; n
    /// and the ridge is small.</summary>
    private static float[] Spd(int n, int rank, double ridge, int seed)
    {
        var rng = new Random(seed);
        var a = PruningTestData.Gaussian(rng, n * rank);
        var h = new float[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double s = i == j ? ridge : 0;
                for (int k = 0; k < rank; k++) s += (double)a[i * rank + k] * a[j * rank + k] / n;
                h[i * n + j] = h[j * n + i] = (float)s;
            }
        return h;
    }

    private static double[,] ReferenceUpper(float[] h, int n)
    {
        var hd = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) hd[i, j] = h[i * n + j];
        return NaiveSparseGpt.UpperCholesky(NaiveSparseGpt.GaussJordanInverse(hd));
    }

    private static (bool Ok, float[] U) Factor(float[] h, int n)
    {
        using var backend = new CpuBackend();
        using var hm = backend.Upload(h, n, n);
        using var um = backend.Upload(Enumerable.Repeat(float.NaN, n * n).ToArray(), n, n);
        bool ok = backend.CholeskyInverseUpper(hm, um);
        var u = new float[n * n];
        backend.Download(um, u);
        var after = new float[n * n];
        backend.Download(hm, after);
        Assert.That(after, Is.EqualTo(h), "H must be left unchanged");
        return (ok, u);
    }

    private static void AssertMatchesReference(float[] h, int n, double relative)
    {
        var (ok, u) = Factor(h, n);
        Assert.That(ok, Is.True);
        var expected = ReferenceUpper(h, n);
        double max = 0;
        foreach (double v in expected) max = Math.Max(max, Math.Abs(v));
        double worst = 0;
        for (int i = 0; i < n; i++)
        {
            Assert.That(u[i * n + i], Is.GreaterThan(0f), $"U[{i},{i}]");
            for (int j = 0; j < n; j++)
            {
                if (j < i) Assert.That(u[i * n + j], Is.EqualTo(0f), $"U must be upper triangular at [{i},{j}]");
                worst = Math.Max(worst, Math.Abs(u[i * n + j] - expected[i, j]));
            }
        }
        Assert.That(worst, Is.LessThanOrEqualTo(relative * max), $"max |U − U_ref| over max |U_ref| = {max}");
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(63)]
    [TestCase(64)]
    [TestCase(65)]
    [TestCase(129)]
    [TestCase(300)]
    [TestCase(1000)]
    public void MatchesTextbookInverseThenCholesky(int n) => AssertMatchesReference(Spd(n, n, 1.0, n), n, 2e-6);

    [TestCase(70)]
    [TestCase(200)]
    public void NearSingularStillFactors(int n)
    {
        // Rank n/2 plus a ridge of 1e-4 of the mean diagonal: condition number around 10⁴–10⁵.
        var h = Spd(n, n / 2, 0, n + 1);
        double mean = 0;
        for (int i = 0; i < n; i++) mean += h[i * n + i];
        mean /= n;
        for (int i = 0; i < n; i++) h[i * n + i] += (float)(1e-4 * mean);
        AssertMatchesReference(h, n, 1e-5);
    }

    /// <summary>H = LLᵀ for an integer L (exact in float), then H[p,p] lowered by L[p,p]² + 1 so the
    /// Schur complement at p is −1: the matrix has a negative eigenvalue wherever p lies.</summary>
    [TestCase(65, 64)]  // the last pivot
    [TestCase(65, 0)]   // the first pivot
    [TestCase(130, 77)] // inside a tile, away from both ends
    public void NonPositiveDefiniteIsReportedNotThrown(int n, int p)
    {
        var rng = new Random(n * 1000 + p);
        var l = new int[n, n];
        for (int i = 0; i < n; i++)
        {
            l[i, i] = 2 + rng.Next(3);
            for (int j = 0; j < i; j++) l[i, j] = rng.Next(-1, 2);
        }
        var h = new float[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                long s = 0;
                for (int k = 0; k <= Math.Min(i, j); k++) s += (long)l[i, k] * l[j, k];
                h[i * n + j] = s;
            }
        // Lowering H[p,p] by c changes only the Schur complement at p (in the original order) by −c.
        h[p * n + p] -= l[p, p] * l[p, p] + 1;
        Assert.That(Factor(h, n).Ok, Is.False);
    }

    [Test]
    public void NonFiniteEntryIsReportedNotThrown()
    {
        int n = 100;
        var h = Spd(n, n, 1.0, 5);
        h[99 * n + 3] = h[3 * n + 99] = float.NaN;
        Assert.That(Factor(h, n).Ok, Is.False, "NaN");
        h = Spd(n, n, 1.0, 5);
        h[50 * n + 50] = float.PositiveInfinity;
        Assert.That(Factor(h, n).Ok, Is.False, "infinite diagonal");
    }

    /// <summary>Both tile kernels against a scalar product, so the Vector256 path is checked on an
    /// AVX-512 machine (which runs only the Vector512 one in the factorization) and vice versa.</summary>
    [TestCase(0)]
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void TileKernelsMatchScalarProduct(int writeMode)
    {
        // The mode enum is internal, so the public test method takes its ordinal.
        var write = (InverseCholeskyFactor.Write)writeMode;
        const int b = InverseCholeskyFactor.B;
        var rng = new Random((int)write + 11);
        double[] Random() => Enumerable.Range(0, b * b).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
        double[] a = Random(), k = Random(), c0 = Random();
        var expected = new double[b * b];
        for (int r = 0; r < b; r++)
            for (int c = 0; c < b; c++)
            {
                double s = 0;
                for (int d = 0; d < b; d++) s += a[r * b + d] * k[d * b + c];
                double old = c0[r * b + c];
                expected[r * b + c] = write switch
                {
                    InverseCholeskyFactor.Write.Store => s,
                    InverseCholeskyFactor.Write.Add => old + s,
                    InverseCholeskyFactor.Write.Subtract => old - s,
                    _ => -s,
                };
            }
        var narrow = (double[])c0.Clone();
        InverseCholeskyFactor.Multiply256(a, k, narrow, write);
        Assert.That(narrow, Is.EqualTo(expected).Within(1e-12), "Vector256 kernel");
        var wide = (double[])c0.Clone();
        InverseCholeskyFactor.Multiply512(a, k, wide, write);
        Assert.That(wide, Is.EqualTo(expected).Within(1e-12), $"Vector512 kernel (hardware accelerated: {Vector512.IsHardwareAccelerated})");
    }

    [Test]
    public void EmptyMatrixFactors()
    {
        using var backend = new CpuBackend();
        using var hm = backend.Allocate(0, 0);
        using var um = backend.Allocate(0, 0);
        Assert.That(backend.CholeskyInverseUpper(hm, um), Is.True);
    }
}
