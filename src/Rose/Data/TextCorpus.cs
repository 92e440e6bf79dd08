namespace Rose.Data;

/// <summary>Loads calibration or evaluation text from the file kinds the tool accepts:
/// .txt (documents separated by blank lines), JSON Lines or a JSON array with a "text" field
/// per record (optionally gzip-compressed), and Parquet with a "text" column.</summary>
public static class TextCorpus
{
    internal const string SupportedKinds =
        ".txt, .jsonl, .jsonl.gz, .json, .json.gz, .parquet";

    /// <summary>The documents of the corpus at <paramref name="path"/>, in file order.</summary>
    public static IReadOnlyList<string> LoadDocuments(string path)
    {
        var kind = KindOf(path);
        IReadOnlyList<string> documents = kind switch
        {
            CorpusKind.Text => SplitIntoDocuments(CorpusFile.ReadAllText(path)),
            CorpusKind.Json => JsonTextRecords.Read(path),
            CorpusKind.Parquet => ParquetTextColumn.Read(path),
            _ => throw new InvalidOperationException(kind.ToString()),
        };
        if (documents.Count == 0)
            throw new RoseException($"{path}: the corpus is empty (no documents found)");
        return documents;
    }

    /// <summary>The corpus as one string: a .txt file verbatim (so tokenizing it matches
    /// tokenizing the file), other kinds as their documents joined by a blank line.</summary>
    public static string LoadWholeText(string path)
    {
        if (KindOf(path) != CorpusKind.Text)
            return string.Join("\n\n", LoadDocuments(path));
        var text = CorpusFile.ReadAllText(path);
        if (string.IsNullOrWhiteSpace(text))
            throw new RoseException($"{path}: the corpus is empty (no text found)");
        return text;
    }

    /// <summary>Splits text at runs of blank (empty or whitespace-only) lines. A document keeps
    /// its internal line breaks (normalised to "\n") and loses its trailing newline.</summary>
    public static IReadOnlyList<string> SplitIntoDocuments(string text)
    {
        var documents = new List<string>();
        var current = new System.Text.StringBuilder();
        foreach (var range in text.AsSpan().Split('\n'))
        {
            var line = text.AsSpan(range);
            if (line.EndsWith("\r")) line = line[..^1];
            if (line.IsWhiteSpace())
            {
                Flush();
                continue;
            }
            if (current.Length > 0) current.Append('\n');
            current.Append(line);
        }
        Flush();
        return documents;

        void Flush()
        {
            if (current.Length == 0) return;
            documents.Add(current.ToString());
            current.Clear();
        }
    }

    internal static CorpusKind KindOf(string path)
    {
        if (!File.Exists(path))
            throw new RoseException(Directory.Exists(path)
                ? $"{path}: is a directory, expected a corpus file ({SupportedKinds})"
                : $"{path}: corpus file not found");
        var name = Path.GetFileName(path).ToLowerInvariant();
        bool gzipped = name.EndsWith(".gz");
        if (gzipped) name = name[..^3];
        if (name.EndsWith(".txt")) return CorpusKind.Text;
        if (name.EndsWith(".jsonl") || name.EndsWith(".json")) return CorpusKind.Json;
        // Parquet compresses its own pages; a gzipped parquet file is not something we read.
        if (name.EndsWith(".parquet") && !gzipped) return CorpusKind.Parquet;
        throw new RoseException($"{path}: unknown corpus file kind; supported: {SupportedKinds}");
    }
}

internal enum CorpusKind { Text, Json, Parquet }
