using BenchmarkDotNet.Attributes;
using Rose.Pruning;
using Rose.Pruning.Cpu;

namespace Rose.Bench.Pruning;

/// <summary>Wanda's unstructured mask on the CPU for a 7B gate/up matrix (11008 × 4096, 70%), side by side with
/// the steps it had before (kept here as the baseline): the whole score matrix first, then fresh arrays for every
/// row. Now each row's metric is formed in buffers of its task's own: about as fast (the per-row select is most
/// of the time) without the score matrix's 4 bytes per weight (940 MB for a 70B MLP matrix) or the row arrays.
/// Both prune the same weights (checked in the setup); each invocation starts from a fresh copy of W, whose
/// 180 MB both allocate.</summary>
[BenchmarkCategory("quick"), ProcessCount(1), WarmupCount(1), IterationCount(5), MemoryDiagnoser]
public class CpuWandaBenchmark
{
    private const int Rows = 11008, Cols = 4096;
    private static readonly MaskRule Rule = new(0.7, null);
    private readonly CpuBackend _backend = new();
    private float[] _weights = [];
    private BackendVector _statistic = null!;

    [GlobalSetup]
    public void Setup()
    {
        _weights = BenchData.Weights(Rows, Cols);
        _statistic = _backend.UploadVector(BenchData.ScoreStatistic(2048, Cols));
        if (!Pruned(Current).AsSpan().SequenceEqual(Pruned(Previous)))
            throw new InvalidOperationException("Wanda's mask and its previous steps disagree");
    }

    private float[] Pruned(Action<BackendMatrix> prune)
    {
        using var w = _backend.Upload(_weights, Rows, Cols);
        prune(w);
        var result = new float[Rows * Cols];
        _backend.Download(w, result);
        return result;
    }

    [Benchmark(Baseline = true)]
    public void ScoreMatrixThenRowArrays()
    {
        using var w = _backend.Upload(_weights, Rows, Cols);
        Previous(w);
    }

    [Benchmark]
    public void RowBuffers()
    {
        using var w = _backend.Upload(_weights, Rows, Cols);
        Current(w);
    }

    private void Current(BackendMatrix w) => _backend.WandaPrune(w, _statistic, Rule);

    private void Previous(BackendMatrix weight)
    {
        var w = (CpuMatrix)weight;
        using var scores = (CpuMatrix)_backend.Scores(weight, _statistic);
        int count = (int)Math.Min(Cols, MaskRule.ThresholdIndex(Rule.Sparsity, Cols));
        Parallel.For(0, Rows, r =>
        {
            var selected = new bool[Cols];
            var scratch = new float[Cols];
            Selection.SmallestStable(scores.Row(r), count, selected, scratch);
            var row = w.Row(r);
            for (int j = 0; j < row.Length; j++)
                if (selected[j]) row[j] = 0f;
        });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _statistic.Dispose();
        _backend.Dispose();
    }
}
