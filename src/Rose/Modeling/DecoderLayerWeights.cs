namespace Rose.Modeling;

/// <summary>One decoder layer's parameters widened to fp32: exactly what one layer's forward needs.</summary>
public sealed class DecoderLayerWeights
{
    private readonly Dictionary<LinearKind, LinearWeight> _linears;

    public DecoderLayerWeights(int index, float[] inputNorm, float[] postAttentionNorm, Dictionary<LinearKind, LinearWeight> linears)
    {
        foreach (var kind in LinearKinds.All)
            if (!linears.ContainsKey(kind)) throw new ArgumentException($"layer {index}: missing {kind.ModulePath()}");
        Index = index;
        InputNorm = inputNorm;
        PostAttentionNorm = postAttentionNorm;
        _linears = linears;
    }

    public int Index { get; }

    /// <summary>The layer's sliding-window length, or null for full causal attention (<see cref="Models.ModelConfig.AttentionWindows"/>).</summary>
    public int? AttentionWindow { get; init; }
    public float[] InputNorm { get; }
    public float[] PostAttentionNorm { get; }
    public LinearWeight this[LinearKind kind] => _linears[kind];
}
