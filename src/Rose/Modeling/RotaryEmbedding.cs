using System.Runtime.Intrinsics;
using Rose.SafeTensors;

namespace Rose.Modeling;

/// <summary>HF's rotate-half RoPE: for head vector x and i &lt; d/2,
/// x'[i] = x[i]·cos θ − x[i+d/2]·sin θ,  x'[i+d/2] = x[i+d/2]·cos θ + x[i]·sin θ,  θ = pos·inv_freq[i]
/// (the product taken in fp32 as HF does). In a 16-bit model's dtype every operation rounds as HF's
/// tensors do: cos and sin are cast to the dtype, each product and the sum are rounded.</summary>
public sealed class RotaryEmbedding
{
    private readonly float[] _invFreq;
    private float[] _cos = [];
    private float[] _sin = [];
    private int _positions;

    public RotaryEmbedding(float[] inverseFrequencies)
    {
        _invFreq = inverseFrequencies;
        HeadDim = inverseFrequencies.Length * 2;
    }

    public int HeadDim { get; }

    /// <summary>Rotates every head of a tokens × (heads·HeadDim) projection, positions 0..tokens−1;
    /// with a 16-bit <paramref name="rounding"/>, x holds values of that dtype and every step rounds to it.
    /// <paramref name="parallel"/> spreads the tokens over the cores (elementwise: the same values).</summary>
    public void Apply(Span<float> x, int tokens, int heads, DType rounding, bool parallel = false)
    {
        var (cosTable, sinTable) = Tables(tokens);
        int half = HeadDim / 2;
        if (x.Length != tokens * heads * HeadDim)
            throw new ArgumentException($"x has {x.Length} values, expected {tokens}×{heads}×{HeadDim}", nameof(x));
        if (!parallel || tokens < 2 * TokensPerTask)
        {
            RotateTokens(x, 0, tokens, heads, half, cosTable, sinTable, rounding);
            return;
        }
        unsafe
        {
            fixed (float* p = x)
            {
                float* q = p;
                int length = x.Length;
                Parallel.For(0, (tokens + TokensPerTask - 1) / TokensPerTask, c =>
                {
                    int t0 = c * TokensPerTask;
                    RotateTokens(new Span<float>(q, length), t0, Math.Min(tokens, t0 + TokensPerTask), heads, half, cosTable, sinTable, rounding);
                });
            }
        }
    }

    /// <summary>Rotates every head of a tokens × (heads·HeadDim) projection, positions 0..tokens−1.</summary>
    public void Apply(Span<float> x, int tokens, int heads) => Apply(x, tokens, heads, DType.F32);

    private const int TokensPerTask = 32;

    private static void RotateTokens(Span<float> x, int t0, int t1, int heads, int half, float[] cosTable, float[] sinTable,
        DType rounding)
    {
        int dim = 2 * half;
        Span<float> cos = half <= 256 ? stackalloc float[half] : new float[half];
        Span<float> sin = half <= 256 ? stackalloc float[half] : new float[half];
        for (int t = t0; t < t1; t++)
        {
            // HF casts the cos and sin tables to the model's dtype before they multiply.
            cosTable.AsSpan(t * half, half).CopyTo(cos);
            sinTable.AsSpan(t * half, half).CopyTo(sin);
            FloatRounding.RoundInPlace(rounding, cos);
            FloatRounding.RoundInPlace(rounding, sin);
            for (int h = 0; h < heads; h++)
                Rotate(x.Slice((t * heads + h) * dim, dim), cos, sin, rounding);
        }
    }

    /// <summary>One head: x'[i] = r(r(a·c) + r(−b·s)), x'[i+d/2] = r(r(b·c) + r(a·s)) with a = x[i],
    /// b = x[i+d/2] and r the rounding to the dtype (the identity for F32, which leaves a·c − b·s).
    /// −b·s is the exact negation of b·s (round to nearest is symmetric), so F32 keeps its values too.</summary>
    private static void Rotate(Span<float> head, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, DType r)
    {
        int half = cos.Length;
        var first = head[..half];
        var second = head[half..];
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var negate = Vector256.Create(-0f);
            for (; i <= half - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var a = Vector256.Create<float>(first[i..]);
                var b = Vector256.Create<float>(second[i..]);
                var c = Vector256.Create<float>(cos[i..]);
                var s = Vector256.Create<float>(sin[i..]);
                var x1 = FloatRounding.Round(r, FloatRounding.Round(r, a * c) + FloatRounding.Round(r, (b * s) ^ negate));
                var x2 = FloatRounding.Round(r, FloatRounding.Round(r, b * c) + FloatRounding.Round(r, a * s));
                x1.CopyTo(first[i..]);
                x2.CopyTo(second[i..]);
            }
        }
        for (; i < half; i++)
        {
            float a = first[i], b = second[i], c = cos[i], s = sin[i];
            first[i] = FloatRounding.Round(r, FloatRounding.Round(r, a * c) + FloatRounding.Round(r, -b * s));
            second[i] = FloatRounding.Round(r, FloatRounding.Round(r, b * c) + FloatRounding.Round(r, a * s));
        }
    }

    private (float[] Cos, float[] Sin) Tables(int tokens)
    {
        lock (_invFreq)
        {
            if (tokens > _positions) Build(tokens);
            return (_cos, _sin);
        }
    }

    private void Build(int tokens)
    {
        int half = HeadDim / 2;
        var cos = new float[tokens * half];
        var sin = new float[tokens * half];
        for (int t = 0; t < tokens; t++)
            for (int i = 0; i < half; i++)
            {
                float angle = t * _invFreq[i];
                cos[t * half + i] = MathF.Cos(angle);
                sin[t * half + i] = MathF.Sin(angle);
            }
        _cos = cos;
        _sin = sin;
        _positions = tokens;
    }
}
