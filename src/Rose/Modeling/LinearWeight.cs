namespace Rose.Modeling;

/// <summary>A linear layer y = x·Wᵀ + b held in fp32, W row-major [OutFeatures, InFeatures].</summary>
public sealed class LinearWeight
{
    public LinearWeight(float[] weight, int outFeatures, int inFeatures, float[]? bias)
    {
        if (weight.Length != (long)outFeatures * inFeatures)
            throw new ArgumentException($"weight has {weight.Length} elements, expected {outFeatures}×{inFeatures}");
        if (bias is not null && bias.Length != outFeatures)
            throw new ArgumentException($"bias has {bias.Length} elements, expected {outFeatures}");
        Weight = weight;
        OutFeatures = outFeatures;
        InFeatures = inFeatures;
        Bias = bias;
    }

    public float[] Weight { get; }
    public int OutFeatures { get; }
    public int InFeatures { get; }
    public float[]? Bias { get; }

    /// <summary>y[t, :] = x[t, :]·Wᵀ + b for every token t.</summary>
    public void Apply(ReadOnlySpan<float> x, Span<float> y, int tokens, bool parallel = true) =>
        CpuMath.MatMulTransposed(x, Weight, y, tokens, InFeatures, OutFeatures, Bias, parallel);
}
