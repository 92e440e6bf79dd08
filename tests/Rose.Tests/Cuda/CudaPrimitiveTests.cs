using NUnit.Framework;
using Rose.Cuda;
using Rose.Pruning;
using Rose.Pruning.Cpu;
using Rose.Tests.Pruning;
using static Rose.Tests.Cuda.CudaTestSupport;

namespace Rose.Tests.Cuda;

/// <summary>Every <see cref="IPruningBackend"/> primitive of the CUDA backend against the CPU
/// reference on edge shapes (cols not a multiple of 128, partial blocks, dead columns, 1 row).
/// Masks must agree exactly: both backends compute the same fp32 metrics (same operations, same
/// rounding) and select by the same rule. Values that come out of differently ordered fp32 sums
/// (GEMM, the fp32 Cholesky) are compared with the tolerances stated at each assertion.</summary>
[TestFixture, Category("Gpu")]
public sealed class CudaPrimitiveTests
{
    /// <summary>"0.5" → unstructured 0.5, "2:4" → N:M.</summary>
    private static MaskRule Rule(string spec) =>
        spec.Contains(':') ? new MaskRule(0, NmPattern.Parse(spec))
            : new MaskRule(double.Parse(spec, System.Globalization.CultureInfo.InvariantCulture), null);

    [Test]
    public void FoldSequenceMatchesCpu([Values(200, 333)] int cols, [Values(0, 1, 37)] int tokens)
    {
        var gpu = Backend();
        using var cpu = new CpuBackend();
        var rng = new Random(cols + tokens);
        var dead = new HashSet<int> { 3, cols - 1 };
        var sequences = PruningTestData.Sequences(rng, 3, tokens, cols, dead);
        using var cs = new LayerInputStatistics(cpu, cols);
        using var gs = new LayerInputStatistics(gpu, cols);
        foreach (var x in sequences)
        {
            cs.Fold(x, tokens);
            gs.Fold(x, tokens);
        }
        var hc = cs.DownloadHessian();
        var hg = gs.DownloadHessian();
        // fp32 sums of ≤ 3×37 products in another order: 1e-5 of the largest entry bounds it.
        AssertClose(hc, hg, 1e-5 * Math.Max(MaxAbs(hc), 1e-30), "H");
        for (int i = 0; i < cols; i++)
            for (int j = 0; j < i; j++)
                Assert.That(hg[i * cols + j], Is.EqualTo(hg[j * cols + i]), $"H not symmetric at {i},{j}");
        foreach (int j in dead) Assert.That(hg[j * cols + j], Is.EqualTo(0f), "dead column stays exactly zero");
        // Statistics: the same double arithmetic rounded to float once per fold; only the double
        // norm's summation order differs, so each fold may land one float ulp (1.2e-7) apart and
        // three folds a few ulps.
        foreach (var stat in new[] { ScoreStatistic.Official, ScoreStatistic.Mean })
        {
            var sc = cs.DownloadScale(stat);
            var sg = gs.DownloadScale(stat);
            for (int j = 0; j < cols; j++)
                Assert.That(sg[j], Is.EqualTo(sc[j]).Within(5e-7 * Math.Abs(sc[j])), $"{stat} s[{j}]");
        }
    }

    [Test]
    public void PrepareHessianAndDiagonalOpsMatchCpuExactly([Values(1, 7)] int rows, [Values(200, 333)] int cols)
    {
        var gpu = Backend();
        using var cpu = new CpuBackend();
        var rng = new Random(rows * cols);
        var dead = new HashSet<int> { 0, 5, cols - 1 };
        using var stats = PruningTestData.Statistics(cpu, rng, cols, tokens: 16, sequences: 2, deadColumns: dead);
        var h = stats.DownloadHessian();
        var w = PruningTestData.Gaussian(rng, rows * cols);
        using var hc = cpu.Upload(h, cols, cols);
        using var wc = cpu.Upload(w, rows, cols);
        using var hg = gpu.Upload(h, cols, cols);
        using var wg = gpu.Upload(w, rows, cols);
        var pc = cpu.PrepareHessian(hc, wc);
        var pg = gpu.PrepareHessian(hg, wg);
        Assert.That(pg.DeadColumns, Is.EqualTo(3));
        Assert.That(pg.DeadColumns, Is.EqualTo(pc.DeadColumns));
        // A double sum of the same floats in another order.
        Assert.That(pg.MeanDiagonal, Is.EqualTo(pc.MeanDiagonal).Within(1e-12 * pc.MeanDiagonal));
        Assert.That(Download(gpu, wg), Is.EqualTo(Download(cpu, wc)), "dead columns zeroed in W");
        float damp = (float)(0.01 * pc.MeanDiagonal);
        cpu.AddDiagonal(hc, damp);
        gpu.AddDiagonal(hg, damp);
        Assert.That(Download(gpu, hg), Is.EqualTo(Download(cpu, hc)), "H after dead fix and damping");

        using var ig = gpu.Upload(PruningTestData.Gaussian(rng, rows * cols), rows, cols);
        gpu.SetIdentity(ig);
        var id = Download(gpu, ig);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) Assert.That(id[r * cols + c], Is.EqualTo(r == c ? 1f : 0f));
    }

    [Test]
    public void CholeskyInverseUpperMatchesCpu([Values(1, 64, 200, 333)] int n, [Values] bool trtri)
    {
        var gpu = Backend();
        gpu.InverseByTrtri = trtri;
        try
        {
            CholeskyInverseUpperMatchesCpu(gpu, n);
        }
        finally
        {
            gpu.InverseByTrtri = true;
        }
    }

    private static void CholeskyInverseUpperMatchesCpu(CudaBackend gpu, int n)
    {
        using var cpu = new CpuBackend();
        // Unit column scales and 4n tokens keep κ(H) near 10, so fp32 and the host's double
        // factorizations agree to ~1e-6; 1e-4 relative (Frobenius) leaves ample margin.
        var rng = new Random(n);
        var x = PruningTestData.Gaussian(rng, 4 * n * n);
        using var stats = new LayerInputStatistics(cpu, n);
        stats.Fold(x, 4 * n);
        var h = stats.DownloadHessian();
        double mean = 0;
        for (int j = 0; j < n; j++) mean += h[j * n + j];
        for (int j = 0; j < n; j++) h[j * n + j] += (float)(0.01 * mean / n);
        using var hc = cpu.Upload(h, n, n);
        using var hg = gpu.Upload(h, n, n);
        using var uc = cpu.Allocate(n, n);
        using var ug = gpu.Allocate(n, n);
        Assert.That(cpu.CholeskyInverseUpper(hc, uc), Is.True);
        Assert.That(gpu.CholeskyInverseUpper(hg, ug), Is.True);
        var a = Download(cpu, uc);
        var b = Download(gpu, ug);
        double diff = 0, norm = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (j < i) Assert.That(b[i * n + j], Is.EqualTo(0f), $"strict lower [{i},{j}] must be zero");
                diff += Math.Pow(a[i * n + j] - b[i * n + j], 2);
                norm += Math.Pow(a[i * n + j], 2);
            }
        Assert.That(Math.Sqrt(diff / norm), Is.LessThan(1e-4), "‖U_cuda − U_cpu‖/‖U_cpu‖");
        for (int i = 0; i < n; i++) Assert.That(b[i * n + i], Is.GreaterThan(0f), "positive diagonal");
        Assert.That(Download(gpu, hg), Is.EqualTo(h), "H is left unchanged");
    }

    [Test]
    public void LargeMatricesRoundTripThroughTheStagingBuffers()
    {
        var gpu = Backend();
        // 2049 × 1031 floats (8.1 MB) is over the staging threshold and not a multiple of its chunk.
        const int rows = 2049, cols = 1031;
        var data = PruningTestData.Gaussian(new Random(11), rows * cols);
        using var m = gpu.Upload(data, rows, cols);
        Assert.That(Download(gpu, m), Is.EqualTo(data));
        using var copy = gpu.Clone(m);
        var back = new float[rows * cols];
        gpu.Download(copy, back);
        Assert.That(back, Is.EqualTo(data));
    }

    [Test]
    public void CholeskyInverseUpperReportsNonPositiveDefinite()
    {
        var gpu = Backend();
        int n = 40;
        var h = new float[n * n];
        for (int j = 0; j < n; j++) h[j * n + j] = j == 17 ? -1f : 1f;
        using var hg = gpu.Upload(h, n, n);
        using var ug = gpu.Allocate(n, n);
        Assert.That(gpu.CholeskyInverseUpper(hg, ug), Is.False, "negative pivot");
        h[17 * n + 17] = float.NaN;
        using var hn = gpu.Upload(h, n, n);
        Assert.That(gpu.CholeskyInverseUpper(hn, ug), Is.False, "NaN pivot");
        h[17 * n + 17] = 4f;
        using var ho = gpu.Upload(h, n, n);
        Assert.That(gpu.CholeskyInverseUpper(ho, ug), Is.True, "a diagonal matrix factors");
        var u = Download(gpu, ug);
        Assert.That(u[17 * n + 17], Is.EqualTo(0.5f).Within(1e-7), "U = H^-1/2 for diagonal H");
    }

    [Test]
    public void ScoresAreBitwiseEqual([Values(1, 7)] int rows, [Values(200, 333)] int cols)
    {
        var gpu = Backend();
        using var cpu = new CpuBackend();
        var rng = new Random(rows + 3 * cols);
        var w = PruningTestData.Gaussian(rng, rows * cols);
        var s = PruningTestData.Gaussian(rng, cols).Select(Math.Abs).ToArray();
        s[1] = 0f;
        using var wc = cpu.Upload(w, rows, cols);
        using var sc = cpu.UploadVector(s);
        using var wg = gpu.Upload(w, rows, cols);
        using var sg = gpu.UploadVector(s);
        using var a = cpu.Scores(wc, sc);
        using var b = gpu.Scores(wg, sg);
        Assert.That(Download(gpu, b), Is.EqualTo(Download(cpu, a)));
    }

    [Test]
    public void OrderingLossesMatchCpu([Values(1, 7, 64, 300)] int rows, [Values(200, 333)] int cols,
        [Values("0.5", "0.7", "2:4", "4:8")] string spec, [Values(false, true)] bool ties)
    {
        var rule = Rule(spec);
        var gpu = Backend();
        using var cpu = new CpuBackend();
        var rng = new Random(rows * 7 + cols);
        var scores = PruningTestData.Gaussian(rng, rows * cols).Select(Math.Abs).ToArray();
        if (ties) scores = Quantized(scores);
        int width = rule.Pattern?.M ?? 128;
        int blocks = (cols + width - 1) / width;
        using var sc = cpu.Upload(scores, rows, cols);
        using var sg = gpu.Upload(scores, rows, cols);
        var colC = new double[cols];
        var colG = new double[cols];
        var blkC = new double[blocks];
        var blkG = new double[blocks];
        cpu.OrderingLosses(sc, width, rule, colC, blkC);
        gpu.OrderingLosses(sg, width, rule, colG, blkG);
        // Identical selections; only the double summation order over rows differs.
        double scale = scores.Max() * rows;
        AssertClose(colC, colG, 1e-12 * scale, "column loss");
        AssertClose(blkC, blkG, 1e-12 * scale * width, "block loss");
    }

    [Test]
    public void GatherAndSymmetricPermutationAreExact([Values(1, 7)] int rows, [Values(200, 333)] int cols)
    {
        var gpu = Backend();
        using var cpu = new CpuBackend();
        var rng = new Random(cols - rows);
        var w = PruningTestData.Gaussian(rng, rows * cols);
        var h = PruningTestData.Gaussian(rng, cols * cols);
        var perm = Enumerable.Range(0, cols).OrderBy(_ => rng.Next()).ToArray();
        using var wc = cpu.Upload(w, rows, cols);
        using var dc = cpu.Allocate(rows, cols);
        using var wg = gpu.Upload(w, rows, cols);
        using var dg = gpu.Allocate(rows, cols);
        cpu.GatherColumns(wc, perm, dc);
        gpu.GatherColumns(wg, perm, dg);
        Assert.That(Download(gpu, dg), Is.EqualTo(Download(cpu, dc)));
        using var hc = cpu.Upload(h, cols, cols);
        using var hg = gpu.Upload(h, cols, cols);
        using var pc = cpu.PermuteSymmetric(hc, perm);
        using var pg = gpu.PermuteSymmetric(hg, perm);
        Assert.That(Download(gpu, pg), Is.EqualTo(Download(cpu, pc)));
        Assert.Throws<ArgumentException>(() => gpu.GatherColumns(wg, perm.Select(_ => 0).ToArray(), dg));
    }

    /// <summary>Runs the OBS sweep block by block on both backends from the same W and U (the CPU's
    /// U uploaded), resetting the CUDA W to the CPU's before each block so that every block is
    /// compared in isolation.</summary>
    [Test]
    public void ObsBlockSweepMatchesCpu([Values(1, 7, 64, 300)] int rows, [Values(200, 333)] int cols,
        [Values("0.5", "0.7", "2:4", "4:8")] string spec)
    {
        var rule = Rule(spec);
        var gpu = Backend();
        using var cpu = new CpuBackend();
        var rng = new Random(rows * 31 + cols);
        using var stats = PruningTestData.Statistics(cpu, rng, cols, tokens: 2 * cols, sequences: 2, deadColumns: new HashSet<int> { 9 });
        var w = PruningTestData.Gaussian(rng, rows * cols);
        using var wc = cpu.Upload(w, rows, cols);
        using var hc = cpu.Clone(stats.Hessian);
        var prep = cpu.PrepareHessian(hc, wc);
        cpu.AddDiagonal(hc, (float)(0.01 * prep.MeanDiagonal));
        using var uc = cpu.Allocate(cols, cols);
        Assert.That(cpu.CholeskyInverseUpper(hc, uc), Is.True);
        var u = Download(cpu, uc);
        using var ug = gpu.Upload(u, cols, cols);

        var widths = SparseGpt.StandardBlocks(cols, 128, rule.Pattern);
        int maxWidth = widths.Max();
        using var ec = cpu.Allocate(rows, maxWidth);
        using var eg = gpu.Allocate(rows, maxWidth);
        using var lc = cpu.AllocateVector(rows);
        using var lg = gpu.AllocateVector(rows);
        int i1 = 0;
        foreach (int width in widths)
        {
            int i2 = i1 + width;
            var before = Download(cpu, wc);
            using var wg = gpu.Upload(before, rows, cols);
            cpu.ObsBlockSweep(wc, uc, i1, i2, rule, ec, lc);
            gpu.ObsBlockSweep(wg, ug, i1, i2, rule, eg, lg);
            var a = Download(cpu, wc);
            var b = Download(gpu, wg);
            string where = $"block [{i1}, {i2})";
            Assert.That(MaskMismatches(a, b), Is.Zero, $"{where}: mask differs");
            // The same fp32 operations per element (w − e·u unfused on both sides); 1e-5 of the
            // block's scale allows for the host's SIMD MultiplyAdd being fused on some CPUs.
            AssertClose(a, b, 1e-5 * MaxAbs(before), $"{where}: W");
            var ea = Download(cpu, ec);
            var eb = Download(gpu, eg);
            for (int r = 0; r < rows; r++)
                AssertClose(ea.AsSpan(r * maxWidth, width), eb.AsSpan(r * maxWidth, width), 1e-5 * Math.Max(MaxAbs(ea), 1e-30), $"{where}: E row {r}");
            var la = Download(cpu, lc);
            var lb = Download(gpu, lg);
            for (int r = 0; r < rows; r++) Assert.That(lb[r], Is.EqualTo(la[r]).Within(1e-5 * Math.Abs(la[r]) + 1e-30), $"{where}: loss row {r}");

            // Trailing update: cuBLAS SGEMM vs the host's blocked fp32 GEMM, sums of ≤ 128 products
            // in another order (typical error ~1e-6 of the scale); an indexing error would be O(1).
            cpu.TrailingUpdate(wc, ec, uc, i1, i2);
            gpu.TrailingUpdate(wg, eg, ug, i1, i2);
            var ta = Download(cpu, wc);
            AssertClose(ta, Download(gpu, wg), 1e-4 * (MaxAbs(ta) + MaxAbs(before)), $"{where}: trailing update");
            i1 = i2;
        }
        double sparsity = (double)PruningTestData.CountZeros(Download(cpu, wc)) / (rows * cols);
        Assert.That(sparsity, Is.GreaterThanOrEqualTo(rule.Pattern is { } nm ? (double)nm.N / nm.M - 0.02 : rule.Sparsity - 0.02));
    }

    [Test]
    public void MagnitudeAndWandaMasksAreBitwiseEqual([Values(1, 7, 64, 300)] int rows, [Values(200, 333)] int cols,
        [Values("0", "0.5", "0.7", "1", "2:4", "4:8")] string spec, [Values(false, true)] bool ties)
    {
        var gpu = Backend();
        using var cpu = new CpuBackend();
        var rule = Rule(spec);
        var rng = new Random(rows * 5 + cols + spec.Length);
        var w = PruningTestData.Gaussian(rng, rows * cols);
        if (ties) w = Quantized(w);
        var s = PruningTestData.Gaussian(rng, cols).Select(v => v * v).ToArray();
        if (ties)
            for (int j = 0; j < cols; j += 3) s[j] = 1f;

        using var mc = cpu.Upload(w, rows, cols);
        using var mg = gpu.Upload(w, rows, cols);
        cpu.MagnitudePrune(mc, rule);
        gpu.MagnitudePrune(mg, rule);
        Assert.That(Download(gpu, mg), Is.EqualTo(Download(cpu, mc)), "magnitude");

        using var sc = cpu.UploadVector(s);
        using var sg = gpu.UploadVector(s);
        using var wc = cpu.Upload(w, rows, cols);
        using var wg = gpu.Upload(w, rows, cols);
        cpu.WandaPrune(wc, sc, rule);
        gpu.WandaPrune(wg, sg, rule);
        Assert.That(Download(gpu, wg), Is.EqualTo(Download(cpu, wc)), "wanda");
    }
}
