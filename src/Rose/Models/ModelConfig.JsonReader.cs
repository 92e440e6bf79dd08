using System.Globalization;
using System.Text.Json;

namespace Rose.Models;

/// <summary>Typed access to one JSON object of a config file, turning absent/null into
/// <c>null</c> and wrong types into a <see cref="RoseException"/> naming file and field.</summary>
internal sealed class ConfigJsonReader(JsonElement obj, string path, string scope = "")
{
    /// <summary>The file being read.</summary>
    public string Path { get; } = path;

    /// <summary>Qualified name of a field of this object, e.g. "rope_scaling.factor".</summary>
    public string Name(string field) => scope.Length == 0 ? field : $"{scope}.{field}";

    public bool Has(string field) => TryGet(field, out _);

    public ConfigJsonReader? OptionalObject(string field)
    {
        if (!TryGet(field, out var e))
            return null;
        if (e.ValueKind != JsonValueKind.Object)
            throw TypeError(field, "an object", e);
        return new ConfigJsonReader(e, Path, Name(field));
    }

    public int RequiredInt(string field) => OptionalInt(field) ?? throw Missing(field);

    public double RequiredDouble(string field) => OptionalDouble(field) ?? throw Missing(field);

    public int? OptionalInt(string field) => TryGet(field, out var e) ? AsInt(field, e) : null;

    public double? OptionalDouble(string field)
    {
        if (!TryGet(field, out var e))
            return null;
        if (e.ValueKind != JsonValueKind.Number)
            throw TypeError(field, "a number", e);
        return e.GetDouble();
    }

    public bool? OptionalBool(string field)
    {
        if (!TryGet(field, out var e))
            return null;
        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw TypeError(field, "true or false", e),
        };
    }

    public string? OptionalString(string field)
    {
        if (!TryGet(field, out var e))
            return null;
        if (e.ValueKind != JsonValueKind.String)
            throw TypeError(field, "a string", e);
        return e.GetString();
    }

    /// <summary>A field that may be an integer or an array of integers (eos_token_id);
    /// the first element stands for the whole.</summary>
    public int? OptionalFirstInt(string field)
    {
        if (!TryGet(field, out var e))
            return null;
        if (e.ValueKind != JsonValueKind.Array)
            return AsInt(field, e);
        foreach (var item in e.EnumerateArray())
            return AsInt(field, item);
        return null;
    }

    public string? OptionalFirstString(string field)
    {
        if (!TryGet(field, out var e))
            return null;
        if (e.ValueKind == JsonValueKind.String)
            return e.GetString();
        if (e.ValueKind != JsonValueKind.Array)
            throw TypeError(field, "an array of strings", e);
        foreach (var item in e.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
                throw TypeError(field, "an array of strings", e);
            return item.GetString();
        }
        return null;
    }

    /// <summary>An array of strings, or null when absent.</summary>
    public string[]? OptionalStrings(string field)
    {
        if (!TryGet(field, out var e))
            return null;
        if (e.ValueKind != JsonValueKind.Array || e.EnumerateArray().Any(item => item.ValueKind != JsonValueKind.String))
            throw TypeError(field, "an array of strings", e);
        return e.EnumerateArray().Select(item => item.GetString()!).ToArray();
    }

    private bool TryGet(string field, out JsonElement value) =>
        obj.TryGetProperty(field, out value) && value.ValueKind != JsonValueKind.Null;

    private int AsInt(string field, JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Number)
        {
            if (e.TryGetInt32(out int i))
                return i;
            // Some exporters write sizes as 4096.0.
            if (e.TryGetDouble(out double d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue)
                return (int)d;
        }
        throw TypeError(field, "an integer", e);
    }

    private RoseException Missing(string field) =>
        new($"{Path}: missing required field '{Name(field)}'");

    private RoseException TypeError(string field, string expected, JsonElement got)
    {
        string text = got.GetRawText();
        if (text.Length > 40)
            text = string.Concat(text.AsSpan(0, 40), "…");
        return new RoseException(
            string.Create(CultureInfo.InvariantCulture, $"{Path}: field '{Name(field)}' must be {expected} (got {text})"));
    }
}
