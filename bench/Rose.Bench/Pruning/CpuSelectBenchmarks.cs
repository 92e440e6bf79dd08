using BenchmarkDotNet.Attributes;
using Rose.Pruning.Cpu;

namespace Rose.Bench.Pruning;

/// <summary>The CPU OBS threshold of one block of a 7B MLP matrix (11008 rows × 128 columns of w²/d²), side by side:
/// one core's quickselect (before) and the parallel radix select the backend uses now (same value). The copy the
/// quickselect reorders is part of both: the backend used to pass it a fresh metric array too.</summary>
[BenchmarkCategory("quick"), ProcessCount(1), WarmupCount(1), IterationCount(5)]
public class CpuSelectBenchmark
{
    private float[] _metric = [], _scratch = [];
    private long _k;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(4);
        _metric = new float[11008 * 128];
        for (int i = 0; i < _metric.Length; i++)
        {
            float w = (float)(rng.NextDouble() - 0.5), d = (float)(rng.NextDouble() + 0.1);
            _metric[i] = w * w / (d * d);
        }
        _scratch = new float[_metric.Length];
        _k = (long)(0.7 * _metric.Length);
    }

    [Benchmark(Baseline = true)]
    public float Quickselect()
    {
        _metric.CopyTo(_scratch, 0);
        return Selection.KthSmallest(_scratch, (int)_k);
    }

    [Benchmark]
    public float Radix() => RadixSelect.KthSmallest(_metric, _k);
}
