using NUnit.Framework;
using Rose.Pruning;
using Rose.Pruning.Cpu;

namespace Rose.Tests.Pruning;

[TestFixture]
public class StatisticsTests
{
    [TestCase(37, 1)]
    [TestCase(70, 4)]
    [TestCase(530, 3)] // wider than one GEMM column tile, so off-diagonal tiles are mirrored
    public void FoldMatchesNaiveDoubleComputation(int cols, int sequences)
    {
        var rng = new Random(cols * 31 + sequences);
        using var backend = new CpuBackend();
        using var stats = new LayerInputStatistics(backend, cols);
        var tokenCounts = Enumerable.Range(0, sequences).Select(i => 3 + 7 * i).ToArray();
        var h = new double[cols, cols];
        var so = new double[cols];
        var sm = new double[cols];
        for (int k = 1; k <= sequences; k++)
        {
            int tokens = tokenCounts[k - 1];
            var x = PruningTestData.Gaussian(rng, tokens * cols, 0.5 + k);
            stats.Fold(x, tokens);
            // Closed forms: H = (2/n) Σ XᵀX, s_official = (1/n) Σ (2/k)‖X‖², s_mean = (1/n) Σ ‖X‖².
            for (int i = 0; i < cols; i++)
            {
                for (int j = 0; j < cols; j++)
                {
                    double dot = 0;
                    for (int t = 0; t < tokens; t++) dot += (double)x[t * cols + i] * x[t * cols + j];
                    h[i, j] += dot;
                }
                so[i] += 2.0 / k * Norm2(x, tokens, cols, i);
                sm[i] += Norm2(x, tokens, cols, i);
            }
        }
        Assert.That(stats.SampleCount, Is.EqualTo(sequences));
        var hf = stats.DownloadHessian();
        var sof = stats.DownloadScale(ScoreStatistic.Official);
        var smf = stats.DownloadScale(ScoreStatistic.Mean);
        double n = sequences;
        for (int i = 0; i < cols; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                double expected = 2.0 / n * h[i, j];
                double scale = 2.0 / n * Math.Sqrt(h[i, i] * h[j, j]);
                Assert.That(hf[i * cols + j], Is.EqualTo(expected).Within(1e-5 * scale + 1e-30), $"H[{i},{j}]");
                Assert.That(hf[i * cols + j], Is.EqualTo(hf[j * cols + i]), "H must be exactly symmetric");
            }
            Assert.That(sof[i], Is.EqualTo(so[i] / n).Within(1e-5).Percent);
            Assert.That(smf[i], Is.EqualTo(sm[i] / n).Within(1e-5).Percent);
        }
    }

    private static double Norm2(float[] x, int tokens, int cols, int j)
    {
        double s = 0;
        for (int t = 0; t < tokens; t++) s += (double)x[t * cols + j] * x[t * cols + j];
        return s;
    }

    [Test]
    public void FoldRejectsWrongInputLength()
    {
        using var backend = new CpuBackend();
        using var stats = new LayerInputStatistics(backend, 4);
        Assert.Throws<ArgumentException>(() => stats.Fold(new float[7], 2));
    }
}

[TestFixture]
public class CholeskyInverseUpperTests
{
    [TestCase(1)]
    [TestCase(50)]
    [TestCase(400)] // large enough for the parallel column path
    public void UpperFactorSquaresToInverse(int n)
    {
        var rng = new Random(n);
        var a = PruningTestData.Gaussian(rng, n * n);
        var h = new double[n, n];
        var hf = new float[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double s = i == j ? n : 0;
                for (int k = 0; k < n; k++) s += (double)a[i * n + k] * a[j * n + k] / n;
                hf[i * n + j] = hf[j * n + i] = (float)s;
            }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) h[i, j] = hf[i * n + j];
        using var backend = new CpuBackend();
        using var hm = backend.Upload(hf, n, n);
        using var um = backend.Allocate(n, n);
        Assert.That(backend.CholeskyInverseUpper(hm, um), Is.True);
        var u = new float[n * n];
        backend.Download(um, u);
        var after = new float[n * n];
        backend.Download(hm, after);
        Assert.That(after, Is.EqualTo(hf), "H must be left unchanged");

        var inv = NaiveSparseGpt.GaussJordanInverse(h);
        double maxInv = 0;
        foreach (double v in inv) maxInv = Math.Max(maxInv, Math.Abs(v));
        for (int i = 0; i < n; i++)
        {
            Assert.That(u[i * n + i], Is.GreaterThan(0f));
            for (int j = 0; j < i; j++) Assert.That(u[i * n + j], Is.EqualTo(0f), "U must be upper triangular");
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int k = 0; k < n; k++) s += (double)u[k * n + i] * u[k * n + j];
                Assert.That(s, Is.EqualTo(inv[i, j]).Within(1e-5 * maxInv), $"(UᵀU)[{i},{j}]");
            }
        }
    }

    [Test]
    public void NegativeDefiniteIsReportedNotThrown()
    {
        using var backend = new CpuBackend();
        var h = new float[9];
        for (int i = 0; i < 3; i++) h[i * 3 + i] = -1f;
        using var hm = backend.Upload(h, 3, 3);
        using var um = backend.Allocate(3, 3);
        Assert.That(backend.CholeskyInverseUpper(hm, um), Is.False);
    }

    [Test]
    public void RankDeficientIsReportedNotThrown()
    {
        // v vᵀ with integer v: the second pivot is exactly 4 − 2·2 = 0.
        float[] v = [1, 2, 3];
        var h = new float[9];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) h[i * 3 + j] = v[i] * v[j];
        using var backend = new CpuBackend();
        using var hm = backend.Upload(h, 3, 3);
        using var um = backend.Allocate(3, 3);
        Assert.That(backend.CholeskyInverseUpper(hm, um), Is.False);
    }
}
