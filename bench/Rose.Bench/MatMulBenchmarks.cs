using BenchmarkDotNet.Attributes;
using Rose.Modeling;

namespace Rose.Bench;

/// <summary>The CPU forward's GEMM y = x·Wᵀ in its versions, side by side, single-threaded: the 2 × 4 register
/// block alone (the baseline), the 4-token × 4-output 256-bit block and, where AVX-512 runs, the 8-token blocks
/// with two tokens per 512-bit register and the depth in passes, which the forward uses (all give the same bits),
/// on a 256-token × 1024 → 1024 projection and LLaMA-2-7B's gate/up projection of 512 tokens.</summary>
[BenchmarkCategory("quick"), ProcessCount(1), WarmupCount(1), IterationCount(5)]
public class MatMulBenchmark
{
    private int _tokens, _in, _out;
    private float[] _x = [], _w = [], _y = [];

    [Params("256x1024->1024", "512x4096->11008")]
    public string Shape { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        (_tokens, _in, _out) = Shape == "256x1024->1024" ? (256, 1024, 1024) : (512, 4096, 11008);
        var rng = new Random(1);
        _x = Enumerable.Range(0, _tokens * _in).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _w = Enumerable.Range(0, _out * _in).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _y = new float[_tokens * _out];
    }

    [Benchmark(Baseline = true)]
    public unsafe void Blocks2x4()
    {
        // The same tiles as CpuMath.MatMulTransposed (32 outputs × 64 tokens), 2-token blocks inside.
        fixed (float* x = _x, w = _w, y = _y)
        {
            for (int tt = 0; tt < _tokens; tt += 64)
                for (int o0 = 0; o0 < _out; o0 += 32)
                    for (int t = tt; t + 2 <= Math.Min(_tokens, tt + 64); t += 2)
                        for (int o = o0; o + 4 <= Math.Min(_out, o0 + 32); o += 4)
                            CpuMath.Block2x4(x, w, y, t, o, _in, _in, _out);
        }
    }

    [Benchmark]
    public void Blocks4x4() =>
        CpuMath.MatMulTransposed(_x, _w, _y, _tokens, _in, _out, default, parallel: false, lowerOnly: false, causalDepth: false, wide: false);

    [Benchmark]
    public void Wide8x4() => CpuMath.MatMulTransposed(_x, _w, _y, _tokens, _in, _out, parallel: false);
}

/// <summary>The CPU attention's score GEMM Q·Kᵀ for one head of a 2048-token window (head_dim 128), side by side:
/// every tile, and only the tiles on or below the diagonal (what causal attention reads; same bits there).</summary>
[BenchmarkCategory("quick"), ProcessCount(1), WarmupCount(1), IterationCount(5)]
public class CausalScoresBenchmark
{
    private const int Tokens = 2048, HeadDim = 128;
    private float[] _q = [], _k = [], _scores = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(2);
        _q = Enumerable.Range(0, Tokens * HeadDim).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _k = Enumerable.Range(0, Tokens * HeadDim).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _scores = new float[Tokens * Tokens];
    }

    [Benchmark(Baseline = true)]
    public void AllTiles() => CpuMath.MatMulTransposed(_q, _k, _scores, Tokens, HeadDim, Tokens, parallel: false);

    [Benchmark]
    public void LowerTiles() => CpuMath.MatMulTransposed(_q, _k, _scores, Tokens, HeadDim, Tokens, parallel: false, lowerOnly: true);
}

/// <summary>The CPU attention's output GEMM P·V for one head of a 2048-token window (head_dim 128), side by side:
/// every sum over all 2048 keys, and each token's sum stopped after its own key (the probabilities past it are
/// zeros; same bits).</summary>
[BenchmarkCategory("quick"), ProcessCount(1), WarmupCount(1), IterationCount(5)]
public class CausalOutputBenchmark
{
    private const int Tokens = 2048, HeadDim = 128;
    private float[] _p = [], _vt = [], _out = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(3);
        _p = new float[Tokens * Tokens];
        for (int t = 0; t < Tokens; t++)
            for (int s = 0; s <= t; s++) _p[t * Tokens + s] = (float)rng.NextDouble() / (t + 1);
        _vt = Enumerable.Range(0, HeadDim * Tokens).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _out = new float[Tokens * HeadDim];
    }

    [Benchmark(Baseline = true)]
    public void FullDepth() => CpuMath.MatMulTransposed(_p, _vt, _out, Tokens, Tokens, HeadDim, parallel: false);

    [Benchmark]
    public void CausalDepth() => CpuMath.MatMulTransposed(_p, _vt, _out, Tokens, Tokens, HeadDim, parallel: false, causalDepth: true);
}
