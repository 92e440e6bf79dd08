using System.Text;
using System.Text.Json;

namespace Rose.Data;

/// <summary>Reads the "text" field of every record of a JSON Lines file, or of a JSON file that
/// is a single array of objects. Errors name the file and the line of the offending record.</summary>
internal static class JsonTextRecords
{
    public static IReadOnlyList<string> Read(string path)
    {
        var documents = new List<string>();
        using var stream = CorpusFile.OpenDecompressed(path);
        using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        int lineNumber = 0;
        try
        {
            string? line;
            while ((line = reader.ReadLine()) is not null)
            {
                lineNumber++;
                var trimmed = line.AsSpan().TrimStart();
                if (trimmed.IsEmpty) continue;
                if (trimmed[0] == '[' && documents.Count == 0)
                {
                    // A JSON array needs the whole document; JSON Lines are streamed line by line
                    // because C4 shards are hundreds of megabytes.
                    var rest = line + "\n" + reader.ReadToEnd();
                    ReadArray(path, rest, lineNumber, documents);
                    break;
                }
                documents.Add(TextOfRecord(path, line, lineNumber));
            }
        }
        catch (InvalidDataException e)
        {
            throw new RoseException($"{path}: corrupt gzip data near line {lineNumber}: {e.Message}", e);
        }
        return documents;
    }

    private static string TextOfRecord(string path, string line, int lineNumber)
    {
        try
        {
            using var record = JsonDocument.Parse(line);
            return TextOf(path, record.RootElement, $"line {lineNumber}");
        }
        catch (JsonException e)
        {
            throw new RoseException($"{path}: line {lineNumber}: invalid JSON: {OneLine(e.Message)}", e);
        }
    }

    private static void ReadArray(string path, string text, int firstLine, List<string> documents)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        int line = firstLine;
        long counted = 0;
        int element = 0;
        try
        {
            reader.Read(); // the '[' found by the caller
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                line += CountNewlines(bytes, counted, reader.TokenStartIndex);
                counted = reader.TokenStartIndex;
                var where = $"line {line} (array element {element})";
                using var record = JsonDocument.ParseValue(ref reader);
                documents.Add(TextOf(path, record.RootElement, where));
                element++;
            }
            if (reader.TokenType != JsonTokenType.EndArray)
                throw new RoseException($"{path}: the JSON array is not closed (missing ']')");
            if (reader.Read())
                throw new RoseException($"{path}: unexpected content after the JSON array");
        }
        catch (JsonException e)
        {
            throw new RoseException($"{path}: invalid JSON in the array after line {line}: {OneLine(e.Message)}", e);
        }
    }

    private static string TextOf(string path, JsonElement record, string where)
    {
        if (record.ValueKind != JsonValueKind.Object)
            throw new RoseException($"{path}: {where}: record is {KindName(record.ValueKind)}, expected a JSON object with a \"text\" string");
        if (!record.TryGetProperty("text", out var text))
            throw new RoseException($"{path}: {where}: record has no \"text\" field");
        if (text.ValueKind != JsonValueKind.String)
            throw new RoseException($"{path}: {where}: \"text\" is {KindName(text.ValueKind)}, expected a string");
        return text.GetString()!;
    }

    private static int CountNewlines(byte[] bytes, long from, long to) =>
        bytes.AsSpan((int)from, (int)(to - from)).Count((byte)'\n');

    private static string KindName(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");
}
