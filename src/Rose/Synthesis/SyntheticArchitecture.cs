using System.Text.Json.Nodes;

namespace Rose.Synthesis;

/// <summary>The config.json values of a real model family, so a synthetic checkpoint has exactly
/// its tensor shapes (and its RoPE setup) without downloading its weights.</summary>
public sealed record SyntheticArchitecture(
    string Name, string ModelType, int Hidden, int Intermediate, int Layers, int Heads, int KvHeads,
    int Vocab, int MaxPositions, double RopeTheta, double RmsNormEps, JsonObject? RopeScaling = null)
{
    public int HeadDim => Hidden / Heads;
    public int KvDim => KvHeads * HeadDim;

    public static readonly SyntheticArchitecture Llama2_7B =
        new("llama2-7b", "llama", 4096, 11008, 32, 32, 32, 32000, 4096, 10000, 1e-5);

    public static readonly SyntheticArchitecture Llama3_8B =
        new("llama3-8b", "llama", 4096, 14336, 32, 32, 8, 128256, 8192, 500000, 1e-5, new JsonObject
        {
            ["factor"] = 8.0,
            ["low_freq_factor"] = 1.0,
            ["high_freq_factor"] = 4.0,
            ["original_max_position_embeddings"] = 8192,
            ["rope_type"] = "llama3",
        });

    public static readonly SyntheticArchitecture Mistral_7B =
        new("mistral-7b", "mistral", 4096, 14336, 32, 32, 8, 32000, 32768, 1e6, 1e-5);

    /// <summary>Small enough for tests; the vocabulary is exactly the byte-level tokenizer's.</summary>
    public static readonly SyntheticArchitecture Tiny =
        new("tiny", "llama", 256, 688, 4, 8, 4, 258, 2048, 10000, 1e-5);

    public static IReadOnlyList<SyntheticArchitecture> All { get; } = [Llama2_7B, Llama3_8B, Mistral_7B, Tiny];

    public static SyntheticArchitecture Get(string name) =>
        All.FirstOrDefault(a => string.Equals(a.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new RoseException($"unknown architecture '{name}' (known: {string.Join(", ", All.Select(a => a.Name))})");

    public SyntheticArchitecture WithLayers(int layers) =>
        layers > 0 ? this with { Layers = layers } : throw new RoseException($"--layers must be positive (got {layers})");
}
