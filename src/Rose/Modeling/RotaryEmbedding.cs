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
    /// with a 16-bit <paramref name="rounding"/>, x holds values of that dtype and every step rounds to it.</summary>
    public void Apply(Span<float> x, int tokens, int heads, DType rounding)
    {
        if (rounding == DType.F32)
        {
            Apply(x, tokens, heads);
            return;
        }
        var (cosTable, sinTable) = Tables(tokens);
        int half = HeadDim / 2;
        for (int t = 0; t < tokens; t++)
        {
            for (int i = 0; i < half; i++)
            {
                float c = FloatConversion.Round(rounding, cosTable[t * half + i]);
                float s = FloatConversion.Round(rounding, sinTable[t * half + i]);
                for (int h = 0; h < heads; h++)
                {
                    int at = (t * heads + h) * HeadDim + i;
                    float a = x[at], b = x[at + half];
                    x[at] = FloatConversion.Round(rounding, FloatConversion.Round(rounding, a * c) + FloatConversion.Round(rounding, -b * s));
                    x[at + half] = FloatConversion.Round(rounding, FloatConversion.Round(rounding, b * c) + FloatConversion.Round(rounding, a * s));
                }
            }
        }
    }

    /// <summary>Rotates every head of a tokens × (heads·HeadDim) projection, positions 0..tokens−1.</summary>
    public void Apply(Span<float> x, int tokens, int heads)
    {
        var (cosTable, sinTable) = Tables(tokens);
        int half = HeadDim / 2;
        for (int t = 0; t < tokens; t++)
        {
            var cos = cosTable.AsSpan(t * half, half);
            var sin = sinTable.AsSpan(t * half, half);
            for (int h = 0; h < heads; h++)
            {
                var v = x.Slice((t * heads + h) * HeadDim, HeadDim);
                for (int i = 0; i < half; i++)
                {
                    float a = v[i], b = v[i + half];
                    v[i] = a * cos[i] - b * sin[i];
                    v[i + half] = b * cos[i] + a * sin[i];
                }
            }
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
