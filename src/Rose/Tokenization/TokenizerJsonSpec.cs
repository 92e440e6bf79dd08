using System.Text.Json;
using System.Text.Json.Nodes;

namespace Rose.Tokenization;

/// <summary>What Rose needs to know about a Hugging Face <c>tokenizer.json</c> beyond what the
/// native tokenizer exposes: the token table and the special ids its post-processor wraps a
/// single sequence with.</summary>
internal sealed class TokenizerJsonSpec
{
    private readonly Dictionary<string, int> _ids;

    private TokenizerJsonSpec(Dictionary<string, int> ids, int[] prefix, int[] suffix, string strippedJson)
    {
        _ids = ids;
        TemplatePrefix = prefix;
        TemplateSuffix = suffix;
        StrippedJson = strippedJson;
        VocabSize = ids.Count == 0 ? 0 : ids.Values.Max() + 1;
    }

    /// <summary>Special ids the post-processor puts before a single sequence (BOS, usually).</summary>
    public int[] TemplatePrefix { get; }

    /// <summary>Special ids the post-processor puts after a single sequence (EOS, rarely).</summary>
    public int[] TemplateSuffix { get; }

    /// <summary>The same tokenizer with no post-processor, truncation or padding, so encoding
    /// yields the bare ids of the text and Rose applies the special-token policy itself.</summary>
    public string StrippedJson { get; }

    public int VocabSize { get; }

    public int? IdOf(string token) => _ids.TryGetValue(token, out int id) ? id : null;

    public static TokenizerJsonSpec Parse(string json, string path)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new RoseException($"{path}: invalid JSON: {e.Message}", e);
        }
        if (root is not JsonObject obj)
            throw new RoseException($"{path}: expected a JSON object at the top level");

        try
        {
            var ids = ReadTokenTable(obj, path);
            var prefix = new List<int>();
            var suffix = new List<int>();
            CollectTemplate(obj["post_processor"], path, prefix, suffix);

            obj["post_processor"] = null;
            obj["truncation"] = null;
            obj["padding"] = null;
            return new TokenizerJsonSpec(ids, [.. prefix], [.. suffix], obj.ToJsonString());
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or JsonException)
        {
            throw new RoseException($"{path}: malformed tokenizer: {e.Message}", e);
        }
    }

    private static Dictionary<string, int> ReadTokenTable(JsonObject root, string path)
    {
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        switch (root["model"]?["vocab"])
        {
            case JsonObject vocab: // BPE, WordPiece, WordLevel: token → id
                foreach (var (token, id) in vocab)
                    ids[token] = id?.GetValue<int>() ?? throw new RoseException($"{path}: model.vocab['{token}'] is null");
                break;
            case JsonArray pieces: // Unigram: [[piece, score], …], id = position
                for (int i = 0; i < pieces.Count; i++)
                    ids[pieces[i]?[0]?.GetValue<string>() ?? throw new RoseException($"{path}: model.vocab[{i}] has no piece")] = i;
                break;
            default:
                throw new RoseException($"{path}: model.vocab is missing");
        }
        if (root["added_tokens"] is JsonArray added)
        {
            foreach (var token in added)
            {
                string content = token?["content"]?.GetValue<string>()
                    ?? throw new RoseException($"{path}: an added_tokens entry has no content");
                ids[content] = token["id"]?.GetValue<int>()
                    ?? throw new RoseException($"{path}: added token '{content}' has no id");
            }
        }
        return ids;
    }

    private static void CollectTemplate(JsonNode? processor, string path, List<int> prefix, List<int> suffix)
    {
        if (processor is null)
            return;
        string? type = processor["type"]?.GetValue<string>();
        switch (type)
        {
            case "Sequence":
                foreach (var inner in processor["processors"]?.AsArray() ?? [])
                    CollectTemplate(inner, path, prefix, suffix);
                break;
            case "TemplateProcessing":
                CollectTemplateProcessing(processor, path, prefix, suffix);
                break;
            case "BertProcessing" or "RobertaProcessing":
                prefix.Add(processor["cls"]?[1]?.GetValue<int>() ?? throw new RoseException($"{path}: post_processor.cls is missing"));
                suffix.Add(processor["sep"]?[1]?.GetValue<int>() ?? throw new RoseException($"{path}: post_processor.sep is missing"));
                break;
            case "ByteLevel":
                break; // only adjusts offsets
            default:
                throw new RoseException($"{path}: unsupported post_processor type '{type}'");
        }
    }

    private static void CollectTemplateProcessing(JsonNode processor, string path, List<int> prefix, List<int> suffix)
    {
        var specials = processor["special_tokens"] as JsonObject;
        bool seenSequence = false;
        foreach (var piece in processor["single"]?.AsArray() ?? [])
        {
            if (piece?["Sequence"] is not null)
            {
                seenSequence = true;
                continue;
            }
            string name = piece?["SpecialToken"]?["id"]?.GetValue<string>()
                ?? throw new RoseException($"{path}: post_processor.single has an entry that is neither Sequence nor SpecialToken");
            var tokenIds = specials?[name]?["ids"]?.AsArray()
                ?? throw new RoseException($"{path}: post_processor.special_tokens has no entry for '{name}'");
            foreach (var id in tokenIds)
                (seenSequence ? suffix : prefix).Add(id!.GetValue<int>());
        }
    }
}
