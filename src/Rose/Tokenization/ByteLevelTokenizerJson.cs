using System.Text.Json.Nodes;

namespace Rose.Tokenization;

/// <summary>Writes a minimal byte-level BPE tokenizer.json (ids 0–255 are the bytes, 256 = &lt;s&gt;,
/// 257 = &lt;/s&gt;, no merges) with a post-processor that adds &lt;s&gt;: enough to drive synthetic
/// checkpoints end to end without downloading a real tokenizer.</summary>
public static class ByteLevelTokenizerJson
{
    public const int BosId = 256;
    public const int EosId = 257;
    public const int VocabSize = 258;

    public static void Write(string modelDir)
    {
        var vocab = new JsonObject();
        var byteToChar = ByteToUnicode();
        for (int b = 0; b < 256; b++) vocab[byteToChar[b].ToString()] = b;
        vocab["<s>"] = BosId;
        vocab["</s>"] = EosId;
        JsonObject Special(string content, int id) => new()
        {
            ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false,
            ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
        };
        var json = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray(Special("<s>", BosId), Special("</s>", EosId)),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(
                    new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<s>", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
                ["pair"] = new JsonArray(
                    new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<s>", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "B", ["type_id"] = 1 } }),
                ["special_tokens"] = new JsonObject
                {
                    ["<s>"] = new JsonObject { ["id"] = "<s>", ["ids"] = new JsonArray(BosId), ["tokens"] = new JsonArray("<s>") },
                },
            },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null, ["fuse_unk"] = false, ["byte_fallback"] = false,
                ["vocab"] = vocab, ["merges"] = new JsonArray(),
            },
        };
        File.WriteAllText(Path.Combine(modelDir, "tokenizer.json"), json.ToJsonString());
        var config = new JsonObject
        {
            ["tokenizer_class"] = "PreTrainedTokenizerFast", ["bos_token"] = "<s>", ["eos_token"] = "</s>",
            ["add_bos_token"] = true, ["add_eos_token"] = false,
        };
        File.WriteAllText(Path.Combine(modelDir, "tokenizer_config.json"), config.ToJsonString());
    }

    /// <summary>GPT-2's reversible byte → printable character map.</summary>
    private static char[] ByteToUnicode()
    {
        var map = new char[256];
        bool Printable(int b) => b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
        int next = 256;
        for (int b = 0; b < 256; b++) map[b] = Printable(b) ? (char)b : (char)next++;
        return map;
    }
}
