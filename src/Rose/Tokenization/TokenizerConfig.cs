using System.Text.Json;

namespace Rose.Tokenization;

/// <summary>The parts of <c>tokenizer_config.json</c> that decide special-token policy. Absent
/// fields stay null so callers can tell "not said" from "false".</summary>
internal sealed record TokenizerConfig(bool? AddBosToken, bool? AddEosToken, string? BosToken, string? EosToken)
{
    public static TokenizerConfig Empty { get; } = new(null, null, null, null);

    public static TokenizerConfig Load(string modelDir)
    {
        string path = Path.Combine(modelDir, "tokenizer_config.json");
        if (!File.Exists(path))
            return Empty;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions
            {
                CommentHandling = JsonCommentHandling.Skip,
                AllowTrailingCommas = true,
            });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new RoseException($"{path}: expected a JSON object at the top level");
            return new TokenizerConfig(
                Bool(root, "add_bos_token", path),
                Bool(root, "add_eos_token", path),
                TokenText(root, "bos_token", path),
                TokenText(root, "eos_token", path));
        }
        catch (JsonException e)
        {
            throw new RoseException($"{path}: invalid JSON: {e.Message}", e);
        }
        catch (IOException e)
        {
            throw new RoseException($"{path}: cannot read: {e.Message}", e);
        }
    }

    private static bool? Bool(JsonElement root, string field, string path)
    {
        if (!root.TryGetProperty(field, out var e) || e.ValueKind == JsonValueKind.Null)
            return null;
        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new RoseException($"{path}: field '{field}' must be true or false (got {e.GetRawText()})"),
        };
    }

    // A special token is written either as its text or as an AddedToken object with "content".
    private static string? TokenText(JsonElement root, string field, string path)
    {
        if (!root.TryGetProperty(field, out var e) || e.ValueKind == JsonValueKind.Null)
            return null;
        if (e.ValueKind == JsonValueKind.String)
            return e.GetString();
        if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String)
            return c.GetString();
        throw new RoseException($"{path}: field '{field}' must be a string or an object with \"content\"");
    }
}
