using BenchmarkDotNet.Attributes;
using Rose.Pruning.Cpu;

namespace Rose.Bench.Pruning;

/// <summary>The CPU backend's GEMM (C += alpha·A·B: the Hessian fold's XᵀX, upper triangle, and the OBS
/// trailing update) side by side with the kernel it replaced (<see cref="UnpackedGemm"/>, the baseline: the
/// same register blocks reading A and B in place, 16-row bands across the whole width): the sample's and a
/// scaled-down 688-wide model's shapes, and LLaMA-2-7B's (a 2048-token fold into 4096 columns, where B's
/// leading dimension is a power of two, and down_proj's trailing update after its first block).</summary>
[BenchmarkCategory("quick"), ProcessCount(1), WarmupCount(1), IterationCount(3)]
public class DenseGemmBenchmark
{
    private float[] _a = [], _b = [], _c = [];
    private int _m, _n, _k;
    private bool _upper;

    [Params("fold 172x512", "fold 688x2048", "trailing 688x560x128", "fold 4096x2048", "trailing 4096x10880x128")]
    public string Case { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        (_m, _n, _k, _upper) = Case switch
        {
            "fold 172x512" => (172, 172, 512, true),
            "fold 688x2048" => (688, 688, 2048, true),
            "trailing 688x560x128" => (688, 560, 128, false),
            "fold 4096x2048" => (4096, 4096, 2048, true),
            "trailing 4096x10880x128" => (4096, 10880, 128, false),
            _ => throw new ArgumentException($"unknown case {Case}"),
        };
        var rng = new Random(1);
        _a = Enumerable.Range(0, _m * _k).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _b = Enumerable.Range(0, _k * _n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _c = new float[_m * _n];
        var before = new float[_m * _n];
        Unpacked();
        _c.CopyTo(before, 0);
        Array.Clear(_c);
        Packed();
        if (!_c.AsSpan().SequenceEqual(before))
            throw new InvalidOperationException("the packed and unpacked kernels disagree");
    }

    [Benchmark(Baseline = true)]
    public void Unpacked() => UnpackedGemm.MultiplyAdd(_m, _n, _k, 0.5f, _a, 0, _k, _b, 0, _n, _c, 0, _n, _upper);

    [Benchmark]
    public void Packed() => DenseKernels.MultiplyAdd(_m, _n, _k, 0.5f, _a, 0, _k, _b, 0, _n, _c, 0, _n, _upper);
}
