using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using Rose.Pruning;
using Rose.Pruning.Cpu;

namespace Rose.Bench.Pruning;

/// <summary>The CPU backend's fold of one 2048-token sequence side by side with the steps it had before
/// (kept here as the baseline): H scaled and Xᵀ formed on one core, the lower triangle mirrored one row of
/// H at a time (a column of the upper side per row: one cache line per value) after every sequence. The fold
/// now scales H inside the GEMM's first pass over each upper tile and leaves the lower triangle to be mirrored
/// once, when H is first read after its last sequence (not timed here: once per layer instead of once per
/// window). Both give the same bits (checked in the setup). At 688 columns the GEMM dominates; at 4096 the
/// steps around it show.</summary>
[BenchmarkCategory("quick"), ProcessCount(1), WarmupCount(1), IterationCount(3)]
public class CpuFoldStepsBenchmark
{
    private const int Tokens = 2048;
    private readonly CpuBackend _backend = new();
    private float[] _x = [];
    private LayerInputStatistics _stats = null!;
    private float[] _h = [], _so = [], _sm = [];

    [Params(688, 4096)]
    public int Cols { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _x = BenchData.Activations(Tokens, Cols);
        _stats = new LayerInputStatistics(_backend, Cols);
        _stats.Fold(_x, Tokens);
        _h = _stats.DownloadHessian();
        _so = _stats.DownloadScale(ScoreStatistic.Official);
        _sm = _stats.DownloadScale(ScoreStatistic.Mean);
        Fold();
        PreviousSteps();
        if (!_stats.DownloadHessian().AsSpan().SequenceEqual(_h))
            throw new InvalidOperationException("the fold and its previous steps disagree");
    }

    [Benchmark(Baseline = true)]
    public void PreviousSteps()
    {
        int cols = Cols;
        const double k = 2, keep = (k - 1) / k;
        TensorPrimitives.Multiply(_h, (float)keep, _h);
        var xs = (float[])_x.Clone();
        var xt = new float[_x.Length];
        for (int r0 = 0; r0 < Tokens; r0 += 32)
            for (int c0 = 0; c0 < cols; c0 += 32)
                for (int r = r0; r < Math.Min(Tokens, r0 + 32); r++)
                    for (int c = c0; c < Math.Min(cols, c0 + 32); c++)
                        xt[c * Tokens + r] = xs[r * cols + c];
        DenseKernels.MultiplyAdd(cols, cols, Tokens, (float)(2.0 / k), xt, 0, Tokens, xs, 0, cols, _h, 0, cols, upperTilesOnly: true);
        Parallel.For(0, cols, i =>
        {
            for (int j = 0; j < i; j++) _h[i * cols + j] = _h[j * cols + i];
        });
        Parallel.For(0, cols, j =>
        {
            double norm = 0;
            var col = xt.AsSpan(j * Tokens, Tokens);
            for (int t = 0; t < col.Length; t++) norm += (double)col[t] * col[t];
            _so[j] = (float)(_so[j] * keep + 2.0 / (k * k) * norm);
            _sm[j] = (float)(_sm[j] * keep + norm / k);
        });
    }

    /// <summary>Always as sequence 2 (H ← H/2 + XᵀX), as the baseline.</summary>
    [Benchmark]
    public void Fold() => _backend.FoldSequence(_stats.Hessian, _stats.OfficialScale, _stats.MeanScale, _x, Tokens, sequenceIndex: 2);

    [GlobalCleanup]
    public void Cleanup() => _stats.Dispose();
}
