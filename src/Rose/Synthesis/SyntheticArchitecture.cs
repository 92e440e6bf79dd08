using System.Text.Json.Nodes;
using Rose.Models;

namespace Rose.Synthesis;

/// <summary>The config.json values of a real model family, so a synthetic checkpoint has exactly
/// its tensor shapes (and its RoPE setup) without downloading its weights.</summary>
/// <param name="QkvBias">Whether q/k/v projections carry biases (Qwen2).</param>
public sealed record SyntheticArchitecture(
    string Name, string ModelType, int Hidden, int Intermediate, int Layers, int Heads, int KvHeads,
    int Vocab, int MaxPositions, double RopeTheta, double RmsNormEps, JsonObject? RopeScaling = null, bool QkvBias = false)
{
    public int HeadDim => Hidden / Heads;
    public int KvDim => KvHeads * HeadDim;

    public static readonly SyntheticArchitecture Llama2_7B =
        new("llama2-7b", ModelConfig.Llama, 4096, 11008, 32, 32, 32, 32000, 4096, 10000, 1e-5);

    public static readonly SyntheticArchitecture Llama2_13B =
        new("llama2-13b", ModelConfig.Llama, 5120, 13824, 40, 40, 40, 32000, 4096, 10000, 1e-5);

    public static readonly SyntheticArchitecture Llama2_70B =
        new("llama2-70b", ModelConfig.Llama, 8192, 28672, 80, 64, 8, 32000, 4096, 10000, 1e-5);

    public static readonly SyntheticArchitecture Llama3_8B =
        new("llama3-8b", ModelConfig.Llama, 4096, 14336, 32, 32, 8, 128256, 8192, 500000, 1e-5, Llama3RopeScaling());

    public static readonly SyntheticArchitecture Llama3_70B =
        new("llama3-70b", ModelConfig.Llama, 8192, 28672, 80, 64, 8, 128256, 8192, 500000, 1e-5, Llama3RopeScaling());

    /// <summary>Qwen2-7B: GQA 28/4, q/k/v biases, a 152k vocabulary.</summary>
    public static readonly SyntheticArchitecture Qwen2_7B =
        new("qwen2-7b", ModelConfig.Qwen2, 3584, 18944, 28, 28, 4, 152064, 32768, 1e6, 1e-6, QkvBias: true);

    public static readonly SyntheticArchitecture Mistral_7B =
        new("mistral-7b", ModelConfig.Mistral, 4096, 14336, 32, 32, 8, 32000, 32768, 1e6, 1e-5);

    /// <summary>Small enough for tests; the vocabulary is exactly the byte-level tokenizer's.</summary>
    public static readonly SyntheticArchitecture Tiny =
        new("tiny", ModelConfig.Llama, 256, 688, 4, 8, 4, 258, 2048, 10000, 1e-5);

    public static IReadOnlyList<SyntheticArchitecture> All { get; } =
        [Llama2_7B, Llama2_13B, Llama2_70B, Llama3_8B, Llama3_70B, Mistral_7B, Qwen2_7B, Tiny];

    private static JsonObject Llama3RopeScaling() => new()
    {
        ["factor"] = 8.0,
        ["low_freq_factor"] = 1.0,
        ["high_freq_factor"] = 4.0,
        ["original_max_position_embeddings"] = 8192,
        ["rope_type"] = "llama3",
    };

    public static SyntheticArchitecture Get(string name) =>
        All.FirstOrDefault(a => string.Equals(a.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new RoseException($"unknown architecture '{name}' (known: {string.Join(", ", All.Select(a => a.Name))})");

    public SyntheticArchitecture WithLayers(int layers) =>
        layers > 0 ? this with { Layers = layers } : throw new RoseException($"--layers must be positive (got {layers})");
}
