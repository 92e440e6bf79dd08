using System.Text.Json.Nodes;
using Rose.SafeTensors;

namespace Rose.Tests.Support;

/// <summary>Writes small random-weight HF checkpoints for tests.</summary>
public sealed record TinyModelSpec
{
    public string ModelType { get; init; } = "llama";
    public int Hidden { get; init; } = 32;
    public int Intermediate { get; init; } = 48;
    public int Layers { get; init; } = 2;
    public int Heads { get; init; } = 4;
    public int KvHeads { get; init; } = 2;
    public int Vocab { get; init; } = 50;
    public int MaxPositions { get; init; } = 64;
    public bool Tied { get; init; }
    public bool QkvBias { get; init; }
    public DType DType { get; init; } = DType.F32;
    public JsonObject? RopeScaling { get; init; }
    public double RopeTheta { get; init; } = 10000;
    public int Seed { get; init; } = 1;

    /// <summary>Tensors stored in another dtype than <see cref="DType"/> (a mixed checkpoint).</summary>
    public IReadOnlyDictionary<string, DType>? TensorDTypes { get; init; }

    /// <summary>Extra config.json fields (raw values), e.g. sliding_window.</summary>
    public JsonObject? ExtraConfig { get; init; }
}

public static class TinyModelFactory
{
    public static string Create(TinyModelSpec spec, string dir)
    {
        Directory.CreateDirectory(dir);
        var rng = new Random(spec.Seed);
        int headDim = spec.Hidden / spec.Heads, kvDim = spec.KvHeads * headDim;
        var tensors = new List<(string Name, long[] Shape, float[] Data)>();
        void Add(string name, float scale, params long[] shape)
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            var data = new float[n];
            for (long i = 0; i < n; i++) data[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
            if (name.EndsWith("norm.weight")) for (long i = 0; i < n; i++) data[i] = 1 + data[i];
            tensors.Add((name, shape, data));
        }
        Add("model.embed_tokens.weight", 1f, spec.Vocab, spec.Hidden);
        for (int l = 0; l < spec.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            float s = 1f / MathF.Sqrt(spec.Hidden);
            Add(p + "input_layernorm.weight", 0.2f, spec.Hidden);
            Add(p + "self_attn.q_proj.weight", s, spec.Hidden, spec.Hidden);
            Add(p + "self_attn.k_proj.weight", s, kvDim, spec.Hidden);
            Add(p + "self_attn.v_proj.weight", s, kvDim, spec.Hidden);
            if (spec.QkvBias)
            {
                Add(p + "self_attn.q_proj.bias", 0.1f, spec.Hidden);
                Add(p + "self_attn.k_proj.bias", 0.1f, kvDim);
                Add(p + "self_attn.v_proj.bias", 0.1f, kvDim);
            }
            Add(p + "self_attn.o_proj.weight", s, spec.Hidden, spec.Hidden);
            Add(p + "post_attention_layernorm.weight", 0.2f, spec.Hidden);
            Add(p + "mlp.gate_proj.weight", s, spec.Intermediate, spec.Hidden);
            Add(p + "mlp.up_proj.weight", s, spec.Intermediate, spec.Hidden);
            Add(p + "mlp.down_proj.weight", 1f / MathF.Sqrt(spec.Intermediate), spec.Hidden, spec.Intermediate);
        }
        Add("model.norm.weight", 0.2f, spec.Hidden);
        if (!spec.Tied) Add("lm_head.weight", 1f / MathF.Sqrt(spec.Hidden), spec.Vocab, spec.Hidden);

        var plan = CheckpointWriter.Plan(tensors.Select(t => new TensorSpec(t.Name, spec.TensorDTypes?.GetValueOrDefault(t.Name, spec.DType) ?? spec.DType, t.Shape)).ToList());
        using (var writer = new CheckpointWriter(dir, plan))
        {
            foreach (var t in tensors) writer.WriteFloat32(t.Name, t.Data);
            writer.Complete();
        }

        string arch = spec.ModelType switch { "qwen2" => "Qwen2ForCausalLM", "mistral" => "MistralForCausalLM", _ => "LlamaForCausalLM" };
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray(arch),
            ["model_type"] = spec.ModelType,
            ["hidden_size"] = spec.Hidden,
            ["intermediate_size"] = spec.Intermediate,
            ["num_hidden_layers"] = spec.Layers,
            ["num_attention_heads"] = spec.Heads,
            ["num_key_value_heads"] = spec.KvHeads,
            ["vocab_size"] = spec.Vocab,
            ["max_position_embeddings"] = spec.MaxPositions,
            ["rms_norm_eps"] = 1e-6,
            ["rope_theta"] = spec.RopeTheta,
            ["tie_word_embeddings"] = spec.Tied,
            ["torch_dtype"] = spec.DType switch { DType.BF16 => "bfloat16", DType.F16 => "float16", _ => "float32" },
        };
        if (spec.RopeScaling is not null) config["rope_scaling"] = spec.RopeScaling.DeepClone();
        if (spec.ExtraConfig is not null)
            foreach (var (key, value) in spec.ExtraConfig) config[key] = value?.DeepClone();
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        return dir;
    }

    public static string TempDir(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "rose-tests", $"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }
}
