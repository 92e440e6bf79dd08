using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using Rose.Modeling;

namespace Rose.Bench;

/// <summary>The CPU forward's GEMM y = x·Wᵀ in its versions, side by side: the 4-token × 4-output register
/// block it uses and the 2 × 4 block it replaced (kept here as the baseline; both give the same bits),
/// single-threaded on a 256-token × 1024 → 1024 projection.</summary>
[BenchmarkCategory("quick"), ProcessCount(1), WarmupCount(1), IterationCount(5)]
public class MatMulBenchmark
{
    private const int Tokens = 256, In = 1024, Out = 1024;
    private float[] _x = [], _w = [], _y = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _x = Enumerable.Range(0, Tokens * In).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _w = Enumerable.Range(0, Out * In).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _y = new float[Tokens * Out];
    }

    [Benchmark(Baseline = true)]
    public unsafe void Blocks2x4()
    {
        // The same tiles as CpuMath.MatMulTransposed (32 outputs × 64 tokens), 2-token blocks inside.
        fixed (float* x = _x, w = _w, y = _y)
        {
            for (int tt = 0; tt < Tokens; tt += 64)
                for (int o0 = 0; o0 < Out; o0 += 32)
                    for (int t = tt; t + 2 <= Math.Min(Tokens, tt + 64); t += 2)
                        for (int o = o0; o + 4 <= Math.Min(Out, o0 + 32); o += 4)
                            Block2x4(x, w, y, t, o, In, Out);
        }
    }

    [Benchmark]
    public void Blocks4x4() => CpuMath.MatMulTransposed(_x, _w, _y, Tokens, In, Out, parallel: false);

    /// <summary>The previous kernel's block: 2 tokens × 4 outputs, 8 accumulators.</summary>
    private static unsafe void Block2x4(float* xs, float* ws, float* ys, int t, int o, int inF, int outF)
    {
        float* x0 = xs + (long)t * inF, x1 = x0 + inF;
        float* w0 = ws + (long)o * inF, w1 = w0 + inF, w2 = w1 + inF, w3 = w2 + inF;
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        for (int i = 0; i + 8 <= inF; i += 8)
        {
            var v0 = Vector256.Load(x0 + i);
            var v1 = Vector256.Load(x1 + i);
            var u0 = Vector256.Load(w0 + i);
            var u1 = Vector256.Load(w1 + i);
            var u2 = Vector256.Load(w2 + i);
            var u3 = Vector256.Load(w3 + i);
            a00 = Vector256.FusedMultiplyAdd(v0, u0, a00); a01 = Vector256.FusedMultiplyAdd(v0, u1, a01);
            a02 = Vector256.FusedMultiplyAdd(v0, u2, a02); a03 = Vector256.FusedMultiplyAdd(v0, u3, a03);
            a10 = Vector256.FusedMultiplyAdd(v1, u0, a10); a11 = Vector256.FusedMultiplyAdd(v1, u1, a11);
            a12 = Vector256.FusedMultiplyAdd(v1, u2, a12); a13 = Vector256.FusedMultiplyAdd(v1, u3, a13);
        }
        float* y0 = ys + (long)t * outF + o, y1 = y0 + outF;
        y0[0] = Vector256.Sum(a00); y0[1] = Vector256.Sum(a01); y0[2] = Vector256.Sum(a02); y0[3] = Vector256.Sum(a03);
        y1[0] = Vector256.Sum(a10); y1[1] = Vector256.Sum(a11); y1[2] = Vector256.Sum(a12); y1[3] = Vector256.Sum(a13);
    }
}
