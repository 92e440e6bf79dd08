using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Rose.Modeling;
using Rose.SafeTensors;

namespace Rose.Bench;

/// <summary>The 16-bit CPU forward's elementwise steps at LLaMA-2-7B widths, 64 tokens, single-threaded, side by
/// side with the scalar loops they replaced (each rounding through <see cref="Half"/> casts or the scalar
/// bfloat16 trick; the same values): SwiGLU over 64 × 11008 and RoPE over 64 tokens × 32 heads × 128.</summary>
[BenchmarkCategory("quick"), ProcessCount(1), WarmupCount(1), IterationCount(5)]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
public class SixteenBitElementwiseBenchmark
{
    private const int Tokens = 64, Intermediate = 11008, Heads = 32, HeadDim = 128;
    private float[] _gate = [], _up = [], _gateWork = [], _q = [], _qWork = [], _cos = [], _sin = [];
    private RotaryEmbedding _rope = null!;

    [Params(DType.F16, DType.BF16)]
    public DType Rounding { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(3);
        _gate = Enumerable.Range(0, Tokens * Intermediate).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        _up = Enumerable.Range(0, Tokens * Intermediate).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        _q = Enumerable.Range(0, Tokens * Heads * HeadDim).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        _gateWork = new float[_gate.Length];
        _qWork = new float[_q.Length];
        var invFreq = Enumerable.Range(0, HeadDim / 2).Select(i => (float)Math.Pow(10000, -2.0 * i / HeadDim)).ToArray();
        _rope = new RotaryEmbedding(invFreq);
        _cos = new float[Tokens * HeadDim / 2];
        _sin = new float[Tokens * HeadDim / 2];
        for (int t = 0; t < Tokens; t++)
            for (int i = 0; i < HeadDim / 2; i++)
            {
                _cos[t * HeadDim / 2 + i] = MathF.Cos(t * invFreq[i]);
                _sin[t * HeadDim / 2 + i] = MathF.Sin(t * invFreq[i]);
            }
    }

    private float ScalarRound(float x) => Rounding == DType.F16
        ? (float)(Half)x
        : FloatConversion.BFloat16ToSingle(FloatConversion.SingleToBFloat16(x));

    [Benchmark(Baseline = true), BenchmarkCategory("swiglu")]
    public void SwiGluScalar()
    {
        _gate.CopyTo(_gateWork, 0);
        for (int i = 0; i < _gateWork.Length; i++)
        {
            float g = ScalarRound(_gateWork[i]);
            float a = ScalarRound(g / (1f + MathF.Exp(-g)));
            _gateWork[i] = ScalarRound(a * ScalarRound(_up[i]));
        }
    }

    [Benchmark, BenchmarkCategory("swiglu")]
    public void SwiGlu()
    {
        _gate.CopyTo(_gateWork, 0);
        CpuMath.SiluMultiply(_gateWork, _up, Rounding);
    }

    [Benchmark(Baseline = true), BenchmarkCategory("rope")]
    public void RopeScalar()
    {
        _q.CopyTo(_qWork, 0);
        int half = HeadDim / 2;
        for (int t = 0; t < Tokens; t++)
            for (int i = 0; i < half; i++)
            {
                float c = ScalarRound(_cos[t * half + i]), s = ScalarRound(_sin[t * half + i]);
                for (int h = 0; h < Heads; h++)
                {
                    int at = (t * Heads + h) * HeadDim + i;
                    float a = _qWork[at], b = _qWork[at + half];
                    _qWork[at] = ScalarRound(ScalarRound(a * c) + ScalarRound(-b * s));
                    _qWork[at + half] = ScalarRound(ScalarRound(b * c) + ScalarRound(a * s));
                }
            }
    }

    [Benchmark, BenchmarkCategory("rope")]
    public void Rope()
    {
        _q.CopyTo(_qWork, 0);
        _rope.Apply(_qWork, Tokens, Heads, Rounding);
    }
}
