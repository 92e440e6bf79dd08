namespace Rose.Models;

/// <summary>The architecture hyper-parameters of a LLaMA-family decoder (LLaMA-2/3, Mistral,
/// Qwen2) as read from a Hugging Face <c>config.json</c>. Build one with <see cref="Load"/> or
/// <see cref="Parse"/>, which validate it; the init setters exist for tests and converters
/// (e.g. llama2.c checkpoints) that describe a model without a config file.</summary>
public sealed partial record ModelConfig
{
    public const string Llama = "llama";
    public const string Mistral = "mistral";
    public const string Qwen2 = "qwen2";

    /// <summary>Where this config came from; used to name the file in later error messages.</summary>
    public string SourcePath { get; init; } = "";

    /// <summary>"llama", "mistral" or "qwen2".</summary>
    public string ModelType { get; init; } = Llama;

    /// <summary>"LlamaForCausalLM", "MistralForCausalLM" or "Qwen2ForCausalLM".</summary>
    public string Architecture { get; init; } = "LlamaForCausalLM";

    public int HiddenSize { get; init; }
    public int IntermediateSize { get; init; }
    public int NumHiddenLayers { get; init; }
    public int NumAttentionHeads { get; init; }

    /// <summary>Grouped-query attention: heads sharing one K/V head come in groups of
    /// NumAttentionHeads / NumKeyValueHeads.</summary>
    public int NumKeyValueHeads { get; init; }

    public int HeadDim { get; init; }
    public double RmsNormEps { get; init; } = 1e-6;
    public double RopeTheta { get; init; } = 10000.0;
    public RopeScaling? RopeScaling { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public bool TieWordEmbeddings { get; init; }

    /// <summary>The raw LLaMA/Mistral <c>attention_bias</c> flag (always true for Qwen2, whose
    /// q/k/v projections carry biases). Use <see cref="QkvBias"/> and <see cref="OProjBias"/>
    /// to decide which tensors to expect.</summary>
    public bool AttentionBias { get; init; }

    /// <summary>Whether q_proj, k_proj and v_proj have bias vectors.</summary>
    public bool QkvBias { get; init; }

    /// <summary>Whether o_proj has a bias vector (LLaMA attention_bias; never for Qwen2).</summary>
    public bool OProjBias { get; init; }

    /// <summary>Whether gate/up/down projections have bias vectors.</summary>
    public bool MlpBias { get; init; }

    public int VocabSize { get; init; }

    /// <summary>The checkpoint's declared dtype, e.g. "bfloat16".</summary>
    public string TorchDtype { get; init; } = "float32";

    public int? BosTokenId { get; init; }
    public int? EosTokenId { get; init; }

    /// <summary>The raw <c>sliding_window</c> field; which layers use it is <see cref="AttentionWindows"/>.</summary>
    public int? SlidingWindow { get; init; }

    /// <summary>Per layer, the sliding-window length W of its attention (a token sees itself and the W − 1
    /// before it, as HF masks it), or null for full causal attention; empty when every layer is full.
    /// Mistral windows every layer; Qwen2 only with <c>use_sliding_window</c>, from
    /// <c>max_window_layers</c> on; a <c>layer_types</c> list decides where present.</summary>
    public IReadOnlyList<int?> AttentionWindows { get; init; } = [];

    /// <summary>Layer <paramref name="layer"/>'s sliding-window length, or null for full causal attention.</summary>
    public int? AttentionWindowOf(int layer) => layer >= 0 && layer < AttentionWindows.Count ? AttentionWindows[layer] : null;

    /// <summary>Query heads per key/value head.</summary>
    public int KeyValueGroups => NumAttentionHeads / NumKeyValueHeads;

    /// <summary>Reads and validates <c>config.json</c> in <paramref name="modelDir"/>.</summary>
    public static ModelConfig Load(string modelDir)
    {
        string path = Path.Combine(modelDir, "config.json");
        if (!File.Exists(path))
            throw new RoseException($"{path}: config file not found");
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RoseException($"{path}: cannot read config: {e.Message}", e);
        }
        return Parse(json, path);
    }
}
