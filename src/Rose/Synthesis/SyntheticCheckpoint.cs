using System.Text.Json.Nodes;
using Rose.Modeling;
using Rose.Models;
using Rose.SafeTensors;
using Rose.Tokenization;

namespace Rose.Synthesis;

/// <summary>Writes a random-weight HF checkpoint with a real architecture's exact shapes
/// (weights and biases ~ N(0, 0.02), norms = 1), the byte-level tokenizer, and a config.json loaders accept.
/// Tensors are streamed out block by block: generation of the next block (parallel, one RNG
/// stream per chunk) overlaps the write of the previous one, and memory stays at two blocks.</summary>
public static class SyntheticCheckpoint
{
    public const float WeightStd = 0.02f;
    private const int ChunkElements = 1 << 16;
    private const int BlockElements = 1 << 25;

    public static DType ParseDType(string text) => text.ToLowerInvariant() switch
    {
        "bf16" or "bfloat16" => DType.BF16,
        "fp16" or "f16" or "float16" => DType.F16,
        "fp32" or "f32" or "float32" => DType.F32,
        _ => throw new RoseException($"unknown --dtype '{text}' (supported: bf16, fp16, fp32)"),
    };

    public static void Write(string arch, DType dtype, string outDir, int? layersOverride = null, ulong seed = 0,
        IProgress<ProgressUpdate>? progress = null)
    {
        var a = SyntheticArchitecture.Get(arch);
        if (layersOverride is int layers) a = a.WithLayers(layers);
        Write(a, dtype, outDir, seed, progress);
    }

    public static void Write(SyntheticArchitecture arch, DType dtype, string outDir, ulong seed = 0, IProgress<ProgressUpdate>? progress = null)
    {
        if (dtype is not (DType.BF16 or DType.F16 or DType.F32))
            throw new RoseException($"synthetic checkpoints are bf16, fp16 or fp32, not {dtype.ToSafeTensorsString()}");
        var specs = TensorSpecs(arch, dtype);
        long total = specs.Sum(s => s.NumElements), done = 0;
        Directory.CreateDirectory(outDir);
        var plan = CheckpointWriter.Plan(specs, CheckpointWriter.DefaultMaxShardBytes);
        using (var writer = new CheckpointWriter(outDir, plan))
        {
            int size = dtype.ElementSize();
            var buffers = new[] { new byte[(long)BlockElements * size], new byte[(long)BlockElements * size] };
            int current = 0;
            Task pending = Task.CompletedTask;
            for (int t = 0; t < specs.Count; t++)
            {
                var spec = specs[t];
                bool isNorm = spec.Name.EndsWith("norm.weight", StringComparison.Ordinal);
                for (long start = 0; start < spec.NumElements; start += BlockElements)
                {
                    int n = (int)Math.Min(BlockElements, spec.NumElements - start);
                    var buffer = buffers[current];
                    if (isNorm) FillOnes(buffer.AsSpan(0, n * size), dtype);
                    else Generate(buffer, start, n, dtype, seed, t);
                    pending.GetAwaiter().GetResult();
                    string name = spec.Name;
                    long byteOffset = start * size;
                    int bytes = n * size;
                    long doneAfter = done + n;
                    pending = Task.Run(() =>
                    {
                        writer.Write(name, byteOffset, buffer.AsSpan(0, bytes));
                        progress?.Report(new ProgressUpdate(name, doneAfter, total));
                    });
                    done = doneAfter;
                    current ^= 1;
                }
            }
            pending.GetAwaiter().GetResult();
            writer.Complete();
        }
        File.WriteAllText(Path.Combine(outDir, "config.json"), ConfigJson(arch, dtype).ToJsonString(new() { WriteIndented = true }));
        ByteLevelTokenizerJson.Write(outDir);
    }

    /// <summary>The tensors in HF's state-dict order: embeddings, each layer, final norm, lm_head.</summary>
    public static IReadOnlyList<TensorSpec> TensorSpecs(SyntheticArchitecture a, DType dtype)
    {
        var specs = new List<TensorSpec> { new(LlamaModel.EmbeddingName, dtype, [a.Vocab, a.Hidden]) };
        for (int l = 0; l < a.Layers; l++)
        {
            specs.Add(new($"model.layers.{l}.input_layernorm.weight", dtype, [a.Hidden]));
            specs.Add(new(LinearKinds.WeightName(l, LinearKind.Q), dtype, [a.Heads * a.HeadDim, a.Hidden]));
            specs.Add(new(LinearKinds.WeightName(l, LinearKind.K), dtype, [a.KvDim, a.Hidden]));
            specs.Add(new(LinearKinds.WeightName(l, LinearKind.V), dtype, [a.KvDim, a.Hidden]));
            if (a.QkvBias)
            {
                specs.Add(new(LinearKinds.BiasName(l, LinearKind.Q), dtype, [a.Heads * a.HeadDim]));
                specs.Add(new(LinearKinds.BiasName(l, LinearKind.K), dtype, [a.KvDim]));
                specs.Add(new(LinearKinds.BiasName(l, LinearKind.V), dtype, [a.KvDim]));
            }
            specs.Add(new(LinearKinds.WeightName(l, LinearKind.O), dtype, [a.Hidden, a.Heads * a.HeadDim]));
            specs.Add(new($"model.layers.{l}.post_attention_layernorm.weight", dtype, [a.Hidden]));
            specs.Add(new(LinearKinds.WeightName(l, LinearKind.Gate), dtype, [a.Intermediate, a.Hidden]));
            specs.Add(new(LinearKinds.WeightName(l, LinearKind.Up), dtype, [a.Intermediate, a.Hidden]));
            specs.Add(new(LinearKinds.WeightName(l, LinearKind.Down), dtype, [a.Hidden, a.Intermediate]));
        }
        specs.Add(new(LlamaModel.FinalNormName, dtype, [a.Hidden]));
        specs.Add(new(LlamaModel.LmHeadName, dtype, [a.Vocab, a.Hidden]));
        return specs;
    }

    public static JsonObject ConfigJson(SyntheticArchitecture a, DType dtype)
    {
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray(ModelConfig.ArchitectureOf(a.ModelType)),
            ["model_type"] = a.ModelType,
            ["hidden_size"] = a.Hidden,
            ["intermediate_size"] = a.Intermediate,
            ["num_hidden_layers"] = a.Layers,
            ["num_attention_heads"] = a.Heads,
            ["num_key_value_heads"] = a.KvHeads,
            ["head_dim"] = a.HeadDim,
            ["hidden_act"] = "silu",
            ["max_position_embeddings"] = a.MaxPositions,
            ["rms_norm_eps"] = a.RmsNormEps,
            ["rope_theta"] = a.RopeTheta,
            ["vocab_size"] = a.Vocab,
            ["tie_word_embeddings"] = false,
            // The byte-level tokenizer's specials; ids below 258 are valid in every arch's vocabulary.
            ["bos_token_id"] = ByteLevelTokenizerJson.BosId,
            ["eos_token_id"] = ByteLevelTokenizerJson.EosId,
            ["torch_dtype"] = dtype switch { DType.BF16 => "bfloat16", DType.F16 => "float16", _ => "float32" },
        };
        // Qwen2 has no attention_bias field: its q/k/v biases are implied.
        if (a.ModelType != ModelConfig.Qwen2) config["attention_bias"] = false;
        if (a.ModelType == ModelConfig.Mistral) config["sliding_window"] = null;
        if (a.ModelType == ModelConfig.Qwen2)
        {
            // As Qwen2-7B ships it: the window is declared but off.
            config["use_sliding_window"] = false;
            config["sliding_window"] = 131072;
            config["max_window_layers"] = a.Layers;
        }
        if (a.RopeScaling is not null) config["rope_scaling"] = a.RopeScaling.DeepClone();
        return config;
    }

    private static void Generate(byte[] buffer, long start, int n, DType dtype, ulong seed, int tensor)
    {
        // Chunks are aligned to ChunkElements within the tensor (BlockElements is a multiple), so
        // the RNG stream of a chunk does not depend on how blocks are cut.
        int size = dtype.ElementSize();
        int chunks = (n + ChunkElements - 1) / ChunkElements;
        Parallel.For(0, chunks, () => new float[ChunkElements], (c, _, scratch) =>
        {
            int offset = c * ChunkElements;
            int count = Math.Min(ChunkElements, n - offset);
            var values = scratch.AsSpan(0, count);
            GaussianFill.Fill(values, seed, tensor, (start + offset) / ChunkElements, WeightStd);
            FloatConversion.FromSingle(dtype, values, buffer.AsSpan(offset * size, count * size));
            return scratch;
        }, _ => { });
    }

    private static void FillOnes(Span<byte> destination, DType dtype)
    {
        Span<float> one = [1f];
        Span<byte> encoded = stackalloc byte[4];
        int size = dtype.ElementSize();
        FloatConversion.FromSingle(dtype, one, encoded[..size]);
        for (int i = 0; i < destination.Length; i += size) encoded[..size].CopyTo(destination.Slice(i, size));
    }
}
