using NUnit.Framework;
namespace Rose.Tests.Config;

/// <summary>config.json texts as published for the supported model families (trimmed of
/// fields Rose does not read only where noted).</summary>
internal static class ConfigFixtures
{
    public const string Llama2_7B = """
        {
          "architectures": ["LlamaForCausalLM"],
          "bos_token_id": 1,
          "eos_token_id": 2,
          "hidden_act": "silu",
          "hidden_size": 4096,
          "initializer_range": 0.02,
          "intermediate_size": 11008,
          "max_position_embeddings": 4096,
          "model_type": "llama",
          "num_attention_heads": 32,
          "num_hidden_layers": 32,
          "num_key_value_heads": 32,
          "pretraining_tp": 1,
          "rms_norm_eps": 1e-05,
          "rope_scaling": null,
          "tie_word_embeddings": false,
          "torch_dtype": "float16",
          "transformers_version": "4.31.0.dev0",
          "use_cache": true,
          "vocab_size": 32000
        }
        """;

    public const string Llama31_8B = """
        {
          "architectures": ["LlamaForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 128000,
          "eos_token_id": [128001, 128008, 128009],
          "hidden_act": "silu",
          "hidden_size": 4096,
          "initializer_range": 0.02,
          "intermediate_size": 14336,
          "max_position_embeddings": 131072,
          "mlp_bias": false,
          "model_type": "llama",
          "num_attention_heads": 32,
          "num_hidden_layers": 32,
          "num_key_value_heads": 8,
          "pretraining_tp": 1,
          "rms_norm_eps": 1e-05,
          "rope_scaling": {
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3"
          },
          "rope_theta": 500000.0,
          "tie_word_embeddings": false,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.43.0.dev0",
          "use_cache": true,
          "vocab_size": 128256
        }
        """;

    public const string Mistral_7B = """
        {
          "architectures": ["MistralForCausalLM"],
          "bos_token_id": 1,
          "eos_token_id": 2,
          "hidden_act": "silu",
          "hidden_size": 4096,
          "initializer_range": 0.02,
          "intermediate_size": 14336,
          "max_position_embeddings": 32768,
          "model_type": "mistral",
          "num_attention_heads": 32,
          "num_hidden_layers": 32,
          "num_key_value_heads": 8,
          "rms_norm_eps": 1e-05,
          "rope_theta": 10000.0,
          "sliding_window": 4096,
          "tie_word_embeddings": false,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.34.0.dev0",
          "use_cache": true,
          "vocab_size": 32000
        }
        """;

    public const string Qwen2_05B = """
        {
          "architectures": ["Qwen2ForCausalLM"],
          "attention_dropout": 0.0,
          "bos_token_id": 151643,
          "eos_token_id": 151643,
          "hidden_act": "silu",
          "hidden_size": 896,
          "initializer_range": 0.02,
          "intermediate_size": 4864,
          "max_position_embeddings": 131072,
          "max_window_layers": 24,
          "model_type": "qwen2",
          "num_attention_heads": 14,
          "num_hidden_layers": 24,
          "num_key_value_heads": 2,
          "rms_norm_eps": 1e-06,
          "rope_theta": 1000000.0,
          "sliding_window": 131072,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.40.1",
          "use_cache": true,
          "use_sliding_window": false,
          "vocab_size": 151936
        }
        """;

    /// <summary>transformers v5 style: theta and scaling live in rope_parameters; dtype replaces
    /// torch_dtype.</summary>
    public const string Llama32_RopeParameters = """
        {
          "architectures": ["LlamaForCausalLM"],
          "model_type": "llama",
          "hidden_size": 2048,
          "intermediate_size": 8192,
          "num_hidden_layers": 16,
          "num_attention_heads": 32,
          "num_key_value_heads": 8,
          "head_dim": 64,
          "max_position_embeddings": 131072,
          "rms_norm_eps": 1e-05,
          "rope_parameters": {
            "rope_theta": 500000.0,
            "rope_type": "llama3",
            "factor": 32.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192
          },
          "tie_word_embeddings": true,
          "dtype": "bfloat16",
          "vocab_size": 128256
        }
        """;

    /// <summary>A small LLaMA config whose single field <paramref name="field"/> is replaced by
    /// the raw JSON <paramref name="rawValue"/> (or removed when it is null).</summary>
    public static string TinyLlamaWith(string field, string? rawValue)
    {
        var fields = new Dictionary<string, string>
        {
            ["model_type"] = "\"llama\"",
            ["architectures"] = "[\"LlamaForCausalLM\"]",
            ["hidden_size"] = "64",
            ["intermediate_size"] = "172",
            ["num_hidden_layers"] = "2",
            ["num_attention_heads"] = "8",
            ["num_key_value_heads"] = "4",
            ["vocab_size"] = "512",
            ["max_position_embeddings"] = "512",
            ["rms_norm_eps"] = "1e-05",
        };
        if (rawValue is null)
            fields.Remove(field);
        else
            fields[field] = rawValue;
        return "{" + string.Join(",", fields.Select(kv => $"\"{kv.Key}\": {kv.Value}")) + "}";
    }
}
