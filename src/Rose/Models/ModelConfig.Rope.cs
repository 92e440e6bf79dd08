namespace Rose.Models;

public sealed partial record ModelConfig
{
    /// <summary>The rotary inverse frequencies (length HeadDim/2) this config implies, scaling
    /// included, as Hugging Face's rotary embedding computes them.</summary>
    public float[] InverseFrequencies() => InverseFrequencies(HeadDim, RopeTheta, RopeScaling);

    /// <summary>inv_freq[i] = theta^(-2i/headDim), then adjusted by <paramref name="scaling"/>.
    /// Computed in double and rounded once to float, so it agrees with HF's float32 arithmetic
    /// to within an ulp.</summary>
    public static float[] InverseFrequencies(int headDim, double theta, RopeScaling? scaling)
    {
        if (headDim <= 0 || headDim % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "head_dim must be positive and even");
        var result = new float[headDim / 2];
        for (int i = 0; i < result.Length; i++)
        {
            double invFreq = 1.0 / Math.Pow(theta, 2.0 * i / headDim);
            result[i] = (float)Scale(invFreq, scaling);
        }
        return result;
    }

    private static double Scale(double invFreq, RopeScaling? scaling)
    {
        switch (scaling?.Type)
        {
            case null:
                return invFreq;
            case RopeScaling.Linear:
                // HF divides positions by the factor; dividing the frequencies is the same rotation.
                return invFreq / scaling.Factor;
            case RopeScaling.Llama3:
                return ScaleLlama3(invFreq, scaling);
            default:
                throw new RoseException($"unsupported rope scaling type '{scaling.Type}'");
        }
    }

    // Llama 3.1's rule: long wavelengths (beyond the original context / low factor) are slowed by
    // the full factor, short ones (below original context / high factor) are kept, and the band in
    // between is blended linearly in (original context / wavelength).
    private static double ScaleLlama3(double invFreq, RopeScaling s)
    {
        double low = s.LowFreqFactor ?? throw new RoseException("llama3 rope scaling needs low_freq_factor");
        double high = s.HighFreqFactor ?? throw new RoseException("llama3 rope scaling needs high_freq_factor");
        double originalContext = s.OriginalMaxPositionEmbeddings
            ?? throw new RoseException("llama3 rope scaling needs original_max_position_embeddings");

        double wavelength = 2 * Math.PI / invFreq;
        double longestKept = originalContext / high;
        double shortestSlowed = originalContext / low;
        if (wavelength > shortestSlowed)
            return invFreq / s.Factor;
        if (wavelength < longestKept)
            return invFreq;
        double smooth = (originalContext / wavelength - low) / (high - low);
        return (1 - smooth) * invFreq / s.Factor + smooth * invFreq;
    }
}
