using System.Text.Json;

namespace Rose.SafeTensors;

/// <summary>The parsed and validated JSON header of a safetensors file.</summary>
internal sealed class SafeTensorsHeader
{
    /// <summary>Headers beyond this are rejected before allocating, as the reference implementation does.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public const string MetadataKey = "__metadata__";

    public required IReadOnlyList<TensorInfo> Tensors { get; init; }
    public required IReadOnlyDictionary<string, string> Metadata { get; init; }

    /// <summary>Checks the 8-byte prefix against the file size and returns the header length.</summary>
    public static long ValidatePrefix(ulong headerLength, long fileLength, string fileName)
    {
        if (headerLength > MaxHeaderBytes)
            throw new RoseException($"{fileName}: header length {headerLength} bytes is over the {MaxHeaderBytes / 1_000_000} MB limit (corrupt or not a safetensors file)");
        if ((long)headerLength > fileLength - 8)
            throw new RoseException($"{fileName}: header length {headerLength} bytes is larger than the {fileLength - 8} bytes after the 8-byte prefix (truncated file?)");
        return (long)headerLength;
    }

    /// <summary>Parses the JSON header and checks every entry against the data region of
    /// <paramref name="dataLength"/> bytes. Tensors come back in file (offset) order.</summary>
    public static SafeTensorsHeader Parse(ReadOnlySpan<byte> json, long dataLength, string fileName)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new RoseException($"{fileName}: header is not valid JSON ({FirstLine(e.Message)})", e);
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new RoseException($"{fileName}: header is not a JSON object (found {root.ValueKind})");

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new List<TensorInfo>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            bool seenMetadata = false;
            foreach (var property in root.EnumerateObject())
            {
                if (property.Name == MetadataKey)
                {
                    if (seenMetadata)
                        throw new RoseException($"{fileName}: header has '{MetadataKey}' twice");
                    seenMetadata = true;
                    ReadMetadata(property.Value, metadata, fileName);
                    continue;
                }
                if (!seen.Add(property.Name))
                    throw new RoseException($"{fileName}: tensor '{property.Name}' appears twice in the header");
                tensors.Add(ReadEntry(property.Name, property.Value, dataLength, fileName));
            }

            // OrderBy is stable, so zero-length tensors sharing an offset keep their header order.
            var ordered = tensors.OrderBy(t => t.Begin).ToArray();
            CheckNoOverlap(ordered, fileName);
            return new SafeTensorsHeader { Tensors = ordered, Metadata = metadata };
        }
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string fileName)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new RoseException($"{fileName}: '{MetadataKey}' must be a map of strings to strings, found {value.ValueKind}");
        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw new RoseException($"{fileName}: '{MetadataKey}' must be a map of strings to strings, but key '{entry.Name}' has a {entry.Value.ValueKind} value");
            metadata[entry.Name] = entry.Value.GetString()!;
        }
    }

    private static TensorInfo ReadEntry(string name, JsonElement entry, long dataLength, string fileName)
    {
        string where = $"{fileName}: tensor '{name}'";
        if (entry.ValueKind != JsonValueKind.Object)
            throw new RoseException($"{where}: header entry is not a JSON object (found {entry.ValueKind})");

        if (!entry.TryGetProperty("dtype", out var dtypeElement))
            throw new RoseException($"{where}: missing dtype");
        var dtypeText = dtypeElement.ValueKind == JsonValueKind.String ? dtypeElement.GetString() : dtypeElement.GetRawText();
        if (dtypeElement.ValueKind != JsonValueKind.String || !DTypes.TryParseSafeTensors(dtypeText, out var dtype))
            throw new RoseException($"{where}: unknown dtype {dtypeText} (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");

        if (!entry.TryGetProperty("shape", out var shapeElement))
            throw new RoseException($"{where}: missing shape");
        if (shapeElement.ValueKind != JsonValueKind.Array)
            throw new RoseException($"{where}: shape must be an array of integers, found {shapeElement.ValueKind}");
        var shape = new long[shapeElement.GetArrayLength()];
        int i = 0;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out var d))
                throw new RoseException($"{where}: shape must be an array of integers, found {shapeElement.GetRawText()}");
            if (d < 0)
                throw new RoseException($"{where}: negative dimension {d} in shape {shapeElement.GetRawText()}");
            shape[i++] = d;
        }
        long numel = Shapes.TryNumElements(shape);
        if (numel < 0 || numel > long.MaxValue / dtype.ElementSize())
            throw new RoseException($"{where}: shape {Shapes.Format(shape)} has too many elements");

        if (!entry.TryGetProperty("data_offsets", out var offsets))
            throw new RoseException($"{where}: missing data_offsets");
        if (offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2
            || !TryGetOffset(offsets[0], out var begin) || !TryGetOffset(offsets[1], out var end))
            throw new RoseException($"{where}: data_offsets must be two non-negative integers [begin, end], found {offsets.GetRawText()}");
        if (begin > end)
            throw new RoseException($"{where}: data_offsets begin {begin} is after end {end}");
        if (end > dataLength)
            throw new RoseException($"{where}: data_offsets [{begin}, {end}] extend beyond the data region of {dataLength} bytes");

        long expected = numel * dtype.ElementSize();
        if (end - begin != expected)
            throw new RoseException($"{where}: data_offsets span {end - begin} bytes but shape {Shapes.Format(shape)} of {dtype.ToSafeTensorsString()} needs {expected} bytes");

        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static bool TryGetOffset(JsonElement e, out long value)
    {
        value = 0;
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out value) && value >= 0;
    }

    private static void CheckNoOverlap(TensorInfo[] ordered, string fileName)
    {
        TensorInfo? previous = null;
        foreach (var t in ordered)
        {
            if (t.ByteLength == 0) continue;
            if (previous is not null && t.Begin < previous.End)
                throw new RoseException($"{fileName}: tensors '{previous.Name}' [{previous.Begin}, {previous.End}) and '{t.Name}' [{t.Begin}, {t.End}) overlap");
            previous = t;
        }
    }

    private static string FirstLine(string s)
    {
        int nl = s.IndexOfAny(['\r', '\n']);
        return nl < 0 ? s : s[..nl];
    }
}
