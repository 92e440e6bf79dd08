using System.Text.Json;

namespace Rose.SafeTensors;

/// <summary>The safetensors weights of a Hugging Face model folder, single-file or sharded
/// with <c>model.safetensors.index.json</c>. All shards are mapped on open and validated.</summary>
public sealed class Checkpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly Dictionary<string, SafeTensorsFile> _files;
    private readonly Dictionary<string, string> _shardOf;

    public string Directory { get; }
    /// <summary>Tensor names, shard by shard (shards in name order), each in file order.</summary>
    public IReadOnlyList<string> TensorNames { get; }
    /// <summary>Shard file names (no folder), in name order.</summary>
    public IReadOnlyList<string> ShardFiles { get; }
    /// <summary>True when the weights come from an index file.</summary>
    public bool IsSharded { get; }

    private Checkpoint(string directory, Dictionary<string, SafeTensorsFile> files, Dictionary<string, string> shardOf,
        IReadOnlyList<string> shardFiles, bool isSharded)
    {
        Directory = directory;
        _files = files;
        _shardOf = shardOf;
        ShardFiles = shardFiles;
        IsSharded = isSharded;
        TensorNames = shardFiles
            .SelectMany(shard => files[shard].Tensors.Select(t => t.Name).Where(n => shardOf.TryGetValue(n, out var s) && s == shard))
            .ToArray();
    }

    public static Checkpoint Open(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        var directory = Path.GetFullPath(dir);
        if (!System.IO.Directory.Exists(directory))
            throw new RoseException($"{directory}: model folder not found");

        if (File.Exists(Path.Combine(directory, SingleFileName)))
            return OpenSingle(directory, SingleFileName);
        if (File.Exists(Path.Combine(directory, IndexFileName)))
            return OpenSharded(directory);

        var candidates = System.IO.Directory.GetFiles(directory, "*.safetensors")
            .Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal).ToArray();
        return candidates.Length switch
        {
            1 => OpenSingle(directory, candidates[0]),
            0 => throw new RoseException($"{directory}: no {SingleFileName}, {IndexFileName} or other *.safetensors file in the model folder"),
            _ => throw new RoseException($"{directory}: {candidates.Length} *.safetensors files ({string.Join(", ", candidates)}) but no {IndexFileName} saying which tensor is where"),
        };
    }

    private static Checkpoint OpenSingle(string directory, string fileName)
    {
        var file = SafeTensorsFile.Open(Path.Combine(directory, fileName));
        var shardOf = file.Tensors.ToDictionary(t => t.Name, _ => fileName, StringComparer.Ordinal);
        return new Checkpoint(directory, new Dictionary<string, SafeTensorsFile> { [fileName] = file }, shardOf, [fileName], isSharded: false);
    }

    private static Checkpoint OpenSharded(string directory)
    {
        var indexPath = Path.Combine(directory, IndexFileName);
        var weightMap = ReadWeightMap(indexPath);
        var shardFiles = weightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();

        foreach (var shard in shardFiles)
        {
            if (!File.Exists(Path.Combine(directory, shard)))
            {
                var example = weightMap.First(kv => kv.Value == shard).Key;
                throw new RoseException($"{indexPath}: shard '{shard}' (holding e.g. '{example}') does not exist in {directory}");
            }
        }

        var files = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var shard in shardFiles)
                files[shard] = SafeTensorsFile.Open(Path.Combine(directory, shard));
            foreach (var (tensor, shard) in weightMap)
            {
                if (!files[shard].Contains(tensor))
                    throw new RoseException($"{indexPath}: tensor '{tensor}' is mapped to shard '{shard}', which does not contain it");
            }
            return new Checkpoint(directory, files, weightMap, shardFiles, isSharded: true);
        }
        catch
        {
            foreach (var f in files.Values) f.Dispose();
            throw;
        }
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
        }
        catch (JsonException e)
        {
            throw new RoseException($"{indexPath}: not valid JSON ({e.Message.Split('\n')[0]})", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new RoseException($"{indexPath}: missing 'weight_map' object");
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new RoseException($"{indexPath}: weight_map entry '{entry.Name}' is not a shard file name");
                var shard = entry.Value.GetString()!;
                // A shard name must stay inside the model folder.
                if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or "..")
                    throw new RoseException($"{indexPath}: weight_map entry '{entry.Name}' names shard '{shard}', which is not a plain file name");
                if (!result.TryAdd(entry.Name, shard))
                    throw new RoseException($"{indexPath}: tensor '{entry.Name}' appears twice in weight_map");
            }
            if (result.Count == 0)
                throw new RoseException($"{indexPath}: weight_map is empty");
            return result;
        }
    }

    public bool Contains(string name) => _shardOf.ContainsKey(name);

    public string ShardOf(string name) =>
        _shardOf.TryGetValue(name, out var shard)
            ? shard
            : throw new RoseException($"{Directory}: checkpoint has no tensor named '{name}'");

    public SafeTensorsFile FileFor(string name) => _files[ShardOf(name)];

    public TensorInfo GetInfo(string name) => FileFor(name).GetInfo(name);

    public ReadOnlySpan<byte> GetBytes(string name) => FileFor(name).GetBytes(name);

    public ReadOnlySpan<byte> GetBytes(string name, long offset, int count) => FileFor(name).GetBytes(name, offset, count);

    public float[] ReadFloat32(string name) => FileFor(name).ReadFloat32(name);

    public void ReadFloat32(string name, Span<float> destination) => FileFor(name).ReadFloat32(name, destination);

    public void Dispose()
    {
        foreach (var f in _files.Values) f.Dispose();
    }
}
