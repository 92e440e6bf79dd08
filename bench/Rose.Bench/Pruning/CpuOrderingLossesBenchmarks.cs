using BenchmarkDotNet.Attributes;
using Rose.Pruning;
using Rose.Pruning.Cpu;

namespace Rose.Bench.Pruning;

/// <summary>ROSE's block thresholds and column losses on the CPU for a 7B gate/up matrix (11008 × 4096 scores,
/// 32 blocks of 128, 70%), side by side with the steps it had before (kept here as the baseline): a fresh
/// array per block, one core's quickselect, one column at a time. Both give the same sums (checked in the setup).</summary>
[BenchmarkCategory("quick"), ProcessCount(1), WarmupCount(1), IterationCount(5)]
public class CpuOrderingLossesBenchmark
{
    private const int Rows = 11008, Cols = 4096, Width = 128;
    private readonly CpuBackend _backend = new();
    private float[] _scores = [];
    private BackendMatrix _matrix = null!;
    private readonly double[] _columnLoss = new double[Cols], _blockLoss = new double[Cols / Width];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(6);
        _scores = new float[Rows * Cols];
        for (int i = 0; i < _scores.Length; i++) _scores[i] = (float)(rng.NextDouble() * rng.NextDouble());
        _matrix = _backend.Upload(_scores, Rows, Cols);
        Current();
        var current = (double[])_columnLoss.Clone();
        Previous();
        if (!current.AsSpan().SequenceEqual(_columnLoss))
            throw new InvalidOperationException("the ordering losses and their previous steps disagree");
    }

    [Benchmark(Baseline = true)]
    public void Previous()
    {
        Array.Clear(_columnLoss);
        long numel = (long)Rows * Width;
        long k = MaskRule.ThresholdIndex(0.7, numel);
        Parallel.For(0, Cols / Width, b =>
        {
            int c0 = b * Width;
            var scratch = new float[numel];
            for (int r = 0; r < Rows; r++) _scores.AsSpan(r * Cols + c0, Width).CopyTo(scratch.AsSpan(r * Width, Width));
            float t = Selection.KthSmallest(scratch, (int)k);
            for (int r = 0; r < Rows; r++)
            {
                var vals = _scores.AsSpan(r * Cols + c0, Width);
                for (int j = 0; j < Width; j++)
                    if (vals[j] <= t) _columnLoss[c0 + j] += vals[j];
            }
        });
    }

    [Benchmark]
    public void Current() => _backend.OrderingLosses(_matrix, Width, new MaskRule(0.7, null), _columnLoss, _blockLoss);

    [GlobalCleanup]
    public void Cleanup() => _matrix.Dispose();
}
