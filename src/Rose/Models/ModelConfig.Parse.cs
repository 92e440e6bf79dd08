using System.Text.Json;

namespace Rose.Models;

public sealed partial record ModelConfig
{
    private static readonly string[] SupportedModelTypes = [Llama, Mistral, Qwen2];

    private static readonly Dictionary<string, string> ArchitectureOfModelType = new()
    {
        [Llama] = "LlamaForCausalLM",
        [Mistral] = "MistralForCausalLM",
        [Qwen2] = "Qwen2ForCausalLM",
    };

    /// <summary>The HF class name that goes with a supported <c>model_type</c> (e.g. "LlamaForCausalLM").</summary>
    public static string ArchitectureOf(string modelType) =>
        ArchitectureOfModelType.TryGetValue(modelType, out var architecture) ? architecture
        : throw new ArgumentException($"unsupported model_type '{modelType}'", nameof(modelType));

    /// <summary>Parses and validates the text of a <c>config.json</c>; <paramref name="sourcePath"/>
    /// names the file in every error message.</summary>
    public static ModelConfig Parse(string json, string sourcePath)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions
            {
                CommentHandling = JsonCommentHandling.Skip,
                AllowTrailingCommas = true,
            });
        }
        catch (JsonException e)
        {
            throw new RoseException($"{sourcePath}: invalid JSON: {e.Message}", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new RoseException($"{sourcePath}: expected a JSON object at the top level");
            var config = FromJson(new ConfigJsonReader(doc.RootElement, sourcePath));
            config.Validate();
            return config;
        }
    }

    private static ModelConfig FromJson(ConfigJsonReader r)
    {
        var (modelType, architecture) = ReadModelKind(r);

        int hidden = r.RequiredInt("hidden_size");
        int heads = r.RequiredInt("num_attention_heads");
        int layers = r.RequiredInt("num_hidden_layers");
        int? headDim = r.OptionalInt("head_dim");
        // Without head_dim the head width is implied, so it must divide exactly; non-positive
        // sizes are left for Validate to report.
        if (headDim is null && heads > 0 && hidden % heads != 0)
            throw new RoseException(
                $"{r.Path}: hidden_size {hidden} is not divisible by num_attention_heads {heads} (and no head_dim is given)");
        int derivedHeadDim = heads > 0 ? hidden / heads : 0;

        bool llamaAttentionBias = modelType == Llama && (r.OptionalBool("attention_bias") ?? false);
        bool qwen = modelType == Qwen2;

        string? hiddenAct = r.OptionalString("hidden_act");
        if (hiddenAct is not null and not ("silu" or "swish"))
            throw new RoseException($"{r.Path}: unsupported hidden_act '{hiddenAct}' (supported: silu)");

        var ropeParameters = r.OptionalObject("rope_parameters");
        double ropeTheta = r.OptionalDouble("rope_theta")
            ?? ropeParameters?.OptionalDouble("rope_theta")
            ?? 10000.0;

        RopeScaling? scaling = null;
        var ropeScaling = r.OptionalObject("rope_scaling");
        if (ropeScaling is not null)
            scaling = ReadRopeScaling(ropeScaling);
        else if (ropeParameters is not null && (ropeParameters.Has("rope_type") || ropeParameters.Has("type")))
            scaling = ReadRopeScaling(ropeParameters);

        return new ModelConfig
        {
            SourcePath = r.Path,
            ModelType = modelType,
            Architecture = architecture,
            HiddenSize = hidden,
            IntermediateSize = r.RequiredInt("intermediate_size"),
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            NumKeyValueHeads = r.OptionalInt("num_key_value_heads") ?? heads,
            HeadDim = headDim ?? derivedHeadDim,
            RmsNormEps = r.OptionalDouble("rms_norm_eps") ?? 1e-6,
            RopeTheta = ropeTheta,
            RopeScaling = scaling,
            MaxPositionEmbeddings = r.OptionalInt("max_position_embeddings") ?? DefaultMaxPositions(modelType),
            TieWordEmbeddings = r.OptionalBool("tie_word_embeddings") ?? false,
            AttentionBias = qwen || llamaAttentionBias,
            QkvBias = qwen || llamaAttentionBias,
            OProjBias = llamaAttentionBias,
            MlpBias = modelType == Llama && (r.OptionalBool("mlp_bias") ?? false),
            VocabSize = r.RequiredInt("vocab_size"),
            TorchDtype = r.OptionalString("torch_dtype") ?? r.OptionalString("dtype") ?? "float32",
            BosTokenId = r.OptionalFirstInt("bos_token_id"),
            EosTokenId = r.OptionalFirstInt("eos_token_id"),
            SlidingWindow = r.OptionalInt("sliding_window"),
            AttentionWindows = ReadAttentionWindows(r, modelType, layers),
        };
    }

    // Hugging Face's own defaults for configs that omit the field.
    private static int DefaultMaxPositions(string modelType) => modelType switch
    {
        Mistral => 4096 * 32,
        Qwen2 => 32768,
        _ => 2048,
    };

    private static (string ModelType, string Architecture) ReadModelKind(ConfigJsonReader r)
    {
        string? modelType = r.OptionalString("model_type");
        string? architecture = r.OptionalFirstString("architectures");
        string supportedTypes = string.Join(", ", SupportedModelTypes);
        string supportedArchs = string.Join(", ", ArchitectureOfModelType.Values);

        if (modelType is not null && !ArchitectureOfModelType.ContainsKey(modelType))
            throw new RoseException($"{r.Path}: unsupported model_type '{modelType}' (supported: {supportedTypes})");
        if (architecture is not null && !ArchitectureOfModelType.ContainsValue(architecture))
            throw new RoseException($"{r.Path}: unsupported architecture '{architecture}' (supported: {supportedArchs})");

        if (modelType is null && architecture is null)
            throw new RoseException($"{r.Path}: missing model_type (supported: {supportedTypes})");
        modelType ??= ArchitectureOfModelType.First(kv => kv.Value == architecture).Key;
        string expected = ArchitectureOfModelType[modelType];
        if (architecture is not null && architecture != expected)
            throw new RoseException(
                $"{r.Path}: architecture '{architecture}' does not match model_type '{modelType}' (expected {expected})");
        return (modelType, expected);
    }

    /// <summary>Which layers attend through a sliding window, as HF's config classes decide it (see
    /// <see cref="AttentionWindows"/>); empty when none does.</summary>
    private static int?[] ReadAttentionWindows(ConfigJsonReader r, string modelType, int layers)
    {
        int? window = r.OptionalInt("sliding_window");
        // Qwen2 keeps sliding_window in every config and applies it only when use_sliding_window is set.
        if (modelType == Qwen2 && r.OptionalBool("use_sliding_window") != true) window = null;
        if (modelType == Llama || window is null || layers <= 0) return [];
        if (window <= 0)
            throw new RoseException($"{r.Path}: sliding_window must be positive or null (got {window})");

        var types = r.OptionalStrings("layer_types");
        if (types is not null)
        {
            if (types.Length != layers)
                throw new RoseException($"{r.Path}: layer_types lists {types.Length} layers, num_hidden_layers is {layers}");
            return types.Select(t => t switch
            {
                "full_attention" => (int?)null,
                "sliding_attention" => window,
                _ => throw new RoseException($"{r.Path}: unsupported layer type '{t}' in layer_types (supported: full_attention, sliding_attention)"),
            }).ToArray();
        }
        // HF's Qwen2Config default: the first 28 layers attend in full.
        int first = modelType == Qwen2 ? r.OptionalInt("max_window_layers") ?? 28 : 0;
        return Enumerable.Range(0, layers).Select(l => l >= first ? window : null).ToArray();
    }

    private static RopeScaling? ReadRopeScaling(ConfigJsonReader s)
    {
        // Newer configs write rope_type, older ones type; both mean the same.
        string? type = s.OptionalString("rope_type") ?? s.OptionalString("type");
        if (type is null)
            throw new RoseException($"{s.Path}: missing required field '{s.Name("rope_type")}'");
        if (type == "default")
            return null;
        if (!RopeScaling.SupportedTypes.Contains(type))
            throw new RoseException(
                $"{s.Path}: unsupported rope scaling {s.Name("rope_type")} '{type}' (supported: default, {string.Join(", ", RopeScaling.SupportedTypes)})");

        double factor = s.RequiredDouble("factor");
        if (!(factor > 0))
            throw new RoseException($"{s.Path}: {s.Name("factor")} must be positive (got {factor})");
        if (type == RopeScaling.Linear)
            return new RopeScaling(type, factor);

        double low = s.RequiredDouble("low_freq_factor");
        double high = s.RequiredDouble("high_freq_factor");
        int original = s.RequiredInt("original_max_position_embeddings");
        if (!(low > 0))
            throw new RoseException($"{s.Path}: {s.Name("low_freq_factor")} must be positive (got {low})");
        if (!(high > low))
            throw new RoseException($"{s.Path}: {s.Name("high_freq_factor")} {high} must be greater than {s.Name("low_freq_factor")} {low}");
        if (original <= 0)
            throw new RoseException($"{s.Path}: {s.Name("original_max_position_embeddings")} must be positive (got {original})");
        return new RopeScaling(type, factor, low, high, original);
    }

    private void Validate()
    {
        RequirePositive("hidden_size", HiddenSize);
        RequirePositive("intermediate_size", IntermediateSize);
        RequirePositive("num_hidden_layers", NumHiddenLayers);
        RequirePositive("num_attention_heads", NumAttentionHeads);
        RequirePositive("num_key_value_heads", NumKeyValueHeads);
        RequirePositive("vocab_size", VocabSize);
        RequirePositive("max_position_embeddings", MaxPositionEmbeddings);
        RequirePositive("head_dim", HeadDim);
        if (HeadDim % 2 != 0)
            throw new RoseException($"{SourcePath}: head_dim {HeadDim} must be even for rotary embeddings");
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw new RoseException(
                $"{SourcePath}: num_attention_heads {NumAttentionHeads} is not divisible by num_key_value_heads {NumKeyValueHeads}");
        if (!(RmsNormEps > 0))
            throw new RoseException($"{SourcePath}: rms_norm_eps must be positive (got {RmsNormEps})");
        if (!(RopeTheta > 0))
            throw new RoseException($"{SourcePath}: rope_theta must be positive (got {RopeTheta})");
    }

    private void RequirePositive(string field, int value)
    {
        if (value <= 0)
            throw new RoseException($"{SourcePath}: {field} must be positive (got {value})");
    }
}
