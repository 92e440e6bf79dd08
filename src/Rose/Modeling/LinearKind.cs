namespace Rose.Modeling;

/// <summary>The seven linear projections of a LLaMA decoder layer.</summary>
public enum LinearKind { Q, K, V, O, Gate, Up, Down }

/// <summary>Linears that read the same activation share one input statistic:
/// q/k/v read the normed attention input, gate/up the normed MLP input.</summary>
public enum LinearInputGroup { AttentionInput, AttentionOutput, MlpInput, MlpHidden }

public static class LinearKinds
{
    public static readonly LinearKind[] All = [LinearKind.Q, LinearKind.K, LinearKind.V, LinearKind.O, LinearKind.Gate, LinearKind.Up, LinearKind.Down];

    public static LinearInputGroup InputGroup(this LinearKind kind) => kind switch
    {
        LinearKind.Q or LinearKind.K or LinearKind.V => LinearInputGroup.AttentionInput,
        LinearKind.O => LinearInputGroup.AttentionOutput,
        LinearKind.Gate or LinearKind.Up => LinearInputGroup.MlpInput,
        _ => LinearInputGroup.MlpHidden,
    };

    /// <summary>Whether no linear after this one in <see cref="All"/> reads its input group (v, o, up, down).</summary>
    public static bool IsLastReaderOfItsInput(this LinearKind kind) =>
        Array.FindLastIndex(All, k => k.InputGroup() == kind.InputGroup()) == Array.IndexOf(All, kind);

    /// <summary>The HF module path inside a layer, e.g. "self_attn.q_proj".</summary>
    public static string ModulePath(this LinearKind kind) => kind switch
    {
        LinearKind.Q => "self_attn.q_proj",
        LinearKind.K => "self_attn.k_proj",
        LinearKind.V => "self_attn.v_proj",
        LinearKind.O => "self_attn.o_proj",
        LinearKind.Gate => "mlp.gate_proj",
        LinearKind.Up => "mlp.up_proj",
        _ => "mlp.down_proj",
    };

    public static string WeightName(int layer, LinearKind kind) => $"model.layers.{layer}.{kind.ModulePath()}.weight";
    public static string BiasName(int layer, LinearKind kind) => $"model.layers.{layer}.{kind.ModulePath()}.bias";
}
