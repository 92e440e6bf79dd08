using Rose.Models;

namespace Rose.Modeling;

/// <summary>The sizes a decoder layer's forward needs, taken from the model config.</summary>
public sealed record ModelShape(int Hidden, int Intermediate, int Heads, int KvHeads, int HeadDim, float RmsNormEps)
{
    public int QDim => Heads * HeadDim;
    public int KvDim => KvHeads * HeadDim;

    public static ModelShape From(ModelConfig config) => new(
        config.HiddenSize, config.IntermediateSize, config.NumAttentionHeads, config.NumKeyValueHeads,
        config.HeadDim, (float)config.RmsNormEps);

    /// <summary>Columns (input features) of each linear.</summary>
    public int InputsOf(LinearKind kind) => kind switch
    {
        LinearKind.O => QDim,
        LinearKind.Down => Intermediate,
        _ => Hidden,
    };

    /// <summary>Rows (output features) of each linear.</summary>
    public int OutputsOf(LinearKind kind) => kind switch
    {
        LinearKind.Q => QDim,
        LinearKind.K or LinearKind.V => KvDim,
        LinearKind.Gate or LinearKind.Up => Intermediate,
        _ => Hidden,
    };
}
