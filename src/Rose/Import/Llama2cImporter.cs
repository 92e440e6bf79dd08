using System.Text.Json;
using System.Text.Json.Nodes;
using Rose.SafeTensors;

namespace Rose.Import;

/// <summary>Converts a version-0 llama2.c checkpoint into a HF LLaMA folder (F32 safetensors).
/// llama2.c rotates adjacent pairs (x[2i], x[2i+1]) while HF rotates halves (x[i], x[i+d/2]),
/// so the rows of wq and wk are reordered inside each head: HF row j·d/2 + i ← llama2.c row 2i + j.</summary>
public static class Llama2cImporter
{
    public static Llama2cHeader Convert(string checkpointPath, string tokenizerModelPath, string outDir)
    {
        if (!File.Exists(checkpointPath)) throw new RoseException($"{checkpointPath}: llama2.c checkpoint not found");
        if (!File.Exists(tokenizerModelPath)) throw new RoseException($"{tokenizerModelPath}: tokenizer.model not found");
        Directory.CreateDirectory(outDir);

        using var reader = new BinaryReader(File.OpenRead(checkpointPath));
        var h = Llama2cHeader.Read(reader, checkpointPath);
        float[] Read(long count)
        {
            var values = new float[count];
            var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan());
            reader.BaseStream.ReadExactly(bytes);
            return values;
        }
        float[][] PerLayer(int rows, int cols) => Enumerable.Range(0, h.Layers).Select(_ => Read((long)rows * cols)).ToArray();

        var embedding = Read((long)h.VocabSize * h.Dim);
        var attnNorm = PerLayer(1, h.Dim);
        var wq = PerLayer(h.Dim, h.Dim);
        var wk = PerLayer(h.KvDim, h.Dim);
        var wv = PerLayer(h.KvDim, h.Dim);
        var wo = PerLayer(h.Dim, h.Dim);
        var ffnNorm = PerLayer(1, h.Dim);
        var w1 = PerLayer(h.HiddenDim, h.Dim);
        var w2 = PerLayer(h.Dim, h.HiddenDim);
        var w3 = PerLayer(h.HiddenDim, h.Dim);
        var finalNorm = Read(h.Dim);
        reader.BaseStream.Seek(4L * h.SeqLen * h.HeadSize, SeekOrigin.Current); // legacy RoPE tables
        var classifier = h.SharedClassifier ? null : Read((long)h.VocabSize * h.Dim);

        var tensors = new List<(string Name, long[] Shape, float[] Data)>
        {
            ("model.embed_tokens.weight", [h.VocabSize, h.Dim], embedding),
        };
        for (int l = 0; l < h.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            tensors.Add((p + "input_layernorm.weight", [h.Dim], attnNorm[l]));
            tensors.Add((p + "self_attn.q_proj.weight", [h.Dim, h.Dim], PairsToHalves(wq[l], h.Heads, h.HeadSize, h.Dim)));
            tensors.Add((p + "self_attn.k_proj.weight", [h.KvDim, h.Dim], PairsToHalves(wk[l], h.KvHeads, h.HeadSize, h.Dim)));
            tensors.Add((p + "self_attn.v_proj.weight", [h.KvDim, h.Dim], wv[l]));
            tensors.Add((p + "self_attn.o_proj.weight", [h.Dim, h.Dim], wo[l]));
            tensors.Add((p + "post_attention_layernorm.weight", [h.Dim], ffnNorm[l]));
            tensors.Add((p + "mlp.gate_proj.weight", [h.HiddenDim, h.Dim], w1[l]));
            tensors.Add((p + "mlp.down_proj.weight", [h.Dim, h.HiddenDim], w2[l]));
            tensors.Add((p + "mlp.up_proj.weight", [h.HiddenDim, h.Dim], w3[l]));
        }
        tensors.Add(("model.norm.weight", [h.Dim], finalNorm));
        if (classifier is not null) tensors.Add(("lm_head.weight", [h.VocabSize, h.Dim], classifier));

        var plan = CheckpointWriter.Plan(tensors.Select(t => new TensorSpec(t.Name, DType.F32, t.Shape)).ToList());
        using (var writer = new CheckpointWriter(outDir, plan))
        {
            foreach (var t in tensors) writer.WriteFloat32(t.Name, t.Data);
            writer.Complete();
        }
        WriteConfig(h, Path.Combine(outDir, "config.json"));
        File.Copy(tokenizerModelPath, Path.Combine(outDir, "tokenizer.model"), overwrite: true);
        WriteTokenizerConfig(h, Path.Combine(outDir, "tokenizer_config.json"));
        return h;
    }

    /// <summary>Within each head of headSize rows, row 2i + j (pair layout) moves to j·headSize/2 + i.</summary>
    public static float[] PairsToHalves(float[] w, int heads, int headSize, int cols)
    {
        var result = new float[w.Length];
        int half = headSize / 2;
        for (int head = 0; head < heads; head++)
            for (int i = 0; i < half; i++)
                for (int j = 0; j < 2; j++)
                {
                    int src = head * headSize + 2 * i + j, dst = head * headSize + j * half + i;
                    Array.Copy(w, (long)src * cols, result, (long)dst * cols, cols);
                }
        return result;
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private static void WriteConfig(Llama2cHeader h, string path)
    {
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["hidden_size"] = h.Dim,
            ["intermediate_size"] = h.HiddenDim,
            ["num_hidden_layers"] = h.Layers,
            ["num_attention_heads"] = h.Heads,
            ["num_key_value_heads"] = h.KvHeads,
            ["head_dim"] = h.HeadSize,
            ["vocab_size"] = h.VocabSize,
            ["max_position_embeddings"] = h.SeqLen,
            ["rms_norm_eps"] = 1e-5,
            ["rope_theta"] = 10000.0,
            ["hidden_act"] = "silu",
            ["tie_word_embeddings"] = h.SharedClassifier,
            ["attention_bias"] = false,
            ["mlp_bias"] = false,
            ["bos_token_id"] = 1,
            ["eos_token_id"] = 2,
            ["torch_dtype"] = "float32",
        };
        File.WriteAllText(path, config.ToJsonString(Indented) + "\n");
    }

    private static void WriteTokenizerConfig(Llama2cHeader h, string path)
    {
        var config = new JsonObject
        {
            ["tokenizer_class"] = "LlamaTokenizer",
            ["add_bos_token"] = true,
            ["add_eos_token"] = false,
            ["bos_token"] = "<s>",
            ["eos_token"] = "</s>",
            ["unk_token"] = "<unk>",
            ["model_max_length"] = h.SeqLen,
            ["legacy"] = true,
        };
        File.WriteAllText(path, config.ToJsonString(Indented) + "\n");
    }
}
