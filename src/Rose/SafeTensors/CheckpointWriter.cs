using System.Text.Encodings.Web;
using System.Text.Json;

namespace Rose.SafeTensors;

/// <summary>One output shard: its file name and the tensors it holds, in file order.</summary>
public sealed record ShardPlan(string FileName, IReadOnlyList<TensorSpec> Tensors)
{
    public long ByteLength => Tensors.Sum(t => t.ByteLength);
}

/// <summary>Writes a whole checkpoint folder: one <see cref="SafeTensorsFileWriter"/> per shard,
/// all opened up front so tensors can be written in any order, plus the index when sharded.</summary>
public sealed class CheckpointWriter : IDisposable
{
    /// <summary>transformers' default <c>max_shard_size</c> ("5GB").</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;

    private readonly SafeTensorsFileWriter[] _writers;
    private readonly Dictionary<string, SafeTensorsFileWriter> _writerOf;
    private bool _completed;

    public string Directory { get; }
    public IReadOnlyList<ShardPlan> Shards { get; }

    public CheckpointWriter(string dir, IReadOnlyList<ShardPlan> plan)
        : this(dir, plan, alreadyWritten: null)
    {
    }

    /// <summary>Reopens the shard files an interrupted writer with the same <paramref name="plan"/> left
    /// in <paramref name="dir"/>, without truncating them: each file's header must equal the planned
    /// one, and the tensors in <paramref name="alreadyWritten"/> count as written.</summary>
    public static CheckpointWriter OpenExisting(string dir, IReadOnlyList<ShardPlan> plan, IEnumerable<string> alreadyWritten)
    {
        ArgumentNullException.ThrowIfNull(alreadyWritten);
        var written = alreadyWritten as IReadOnlySet<string> ?? alreadyWritten.ToHashSet(StringComparer.Ordinal);
        var writer = new CheckpointWriter(dir, plan, written);
        var unknown = written.FirstOrDefault(name => !writer.Contains(name));
        if (unknown is not null)
        {
            writer.Dispose();
            throw new RoseException($"{writer.Directory}: tensor '{unknown}' is not in the output checkpoint's plan");
        }
        return writer;
    }

    private CheckpointWriter(string dir, IReadOnlyList<ShardPlan> plan, IReadOnlySet<string>? alreadyWritten)
    {
        ArgumentNullException.ThrowIfNull(dir);
        ArgumentNullException.ThrowIfNull(plan);
        if (plan.Count == 0)
            throw new ArgumentException("a checkpoint needs at least one shard", nameof(plan));
        Directory = Path.GetFullPath(dir);
        Shards = plan;

        var fileNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var shard in plan)
        {
            if (shard.FileName != Path.GetFileName(shard.FileName) || !shard.FileName.EndsWith(".safetensors", StringComparison.Ordinal))
                throw new ArgumentException($"shard file name '{shard.FileName}' must be a plain *.safetensors file name", nameof(plan));
            if (!fileNames.Add(shard.FileName))
                throw new ArgumentException($"shard file '{shard.FileName}' appears twice in the plan", nameof(plan));
        }

        System.IO.Directory.CreateDirectory(Directory);
        _writers = new SafeTensorsFileWriter[plan.Count];
        _writerOf = new Dictionary<string, SafeTensorsFileWriter>(StringComparer.Ordinal);
        try
        {
            for (int i = 0; i < plan.Count; i++)
            {
                string path = Path.Combine(Directory, plan[i].FileName);
                if (alreadyWritten is not null && !File.Exists(path))
                    throw new RoseException($"{path}: output shard is missing, so the run cannot be resumed");
                _writers[i] = alreadyWritten is null
                    ? new SafeTensorsFileWriter(path, plan[i].Tensors)
                    : SafeTensorsFileWriter.OpenExisting(path, plan[i].Tensors, plan[i].Tensors.Select(t => t.Name).Where(alreadyWritten.Contains));
                foreach (var spec in plan[i].Tensors)
                {
                    if (!_writerOf.TryAdd(spec.Name, _writers[i]))
                        throw new ArgumentException($"tensor '{spec.Name}' is planned in more than one shard", nameof(plan));
                }
            }
        }
        catch
        {
            foreach (var w in _writers) w?.Dispose();
            throw;
        }
    }

    /// <summary>Packs tensors, in the given order, into shards of at most
    /// <paramref name="maxShardBytes"/> (a larger tensor gets a shard of its own), named like
    /// transformers names them.</summary>
    public static IReadOnlyList<ShardPlan> Plan(IReadOnlyList<TensorSpec> specs, long maxShardBytes = DefaultMaxShardBytes)
    {
        ArgumentNullException.ThrowIfNull(specs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShardBytes);
        var groups = new List<List<TensorSpec>> { new() };
        long current = 0;
        foreach (var spec in specs)
        {
            if (groups[^1].Count > 0 && current + spec.ByteLength > maxShardBytes)
            {
                groups.Add([]);
                current = 0;
            }
            groups[^1].Add(spec);
            current += spec.ByteLength;
        }
        if (groups.Count == 1)
            return [new ShardPlan(Checkpoint.SingleFileName, groups[0])];
        return groups.Select((g, i) => new ShardPlan(ShardFileName(i + 1, groups.Count), g)).ToArray();
    }

    /// <summary>transformers' shard naming: <c>model-00001-of-00003.safetensors</c>.</summary>
    public static string ShardFileName(int index, int count) => $"model-{index:D5}-of-{count:D5}.safetensors";

    /// <summary>A plan with the input's shard files and tensor order; <paramref name="specOf"/>
    /// gives each output tensor's dtype and shape (e.g. to change the dtype).</summary>
    public static IReadOnlyList<ShardPlan> PlanLike(Checkpoint input, Func<string, TensorSpec> specOf)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(specOf);
        var byShard = input.TensorNames.GroupBy(input.ShardOf).ToDictionary(g => g.Key, g => g.Select(specOf).ToArray());
        return input.ShardFiles
            .Select(shard => new ShardPlan(shard, byShard.TryGetValue(shard, out var specs) ? specs : []))
            .ToArray();
    }

    public void Write(string name, ReadOnlySpan<byte> data) => WriterFor(name).Write(name, data);

    public void Write(string name, long byteOffset, ReadOnlySpan<byte> data) => WriterFor(name).Write(name, byteOffset, data);

    public void WriteFloat32(string name, ReadOnlySpan<float> data) => WriterFor(name).WriteFloat32(name, data);

    public void WriteFloat32(string name, long elementOffset, ReadOnlySpan<float> data) => WriterFor(name).WriteFloat32(name, elementOffset, data);

    public bool Contains(string name) => _writerOf.ContainsKey(name);

    /// <summary>Forces every shard's written bytes onto the disk.</summary>
    public void Flush()
    {
        foreach (var w in _writers) w.Flush();
    }

    /// <summary>Completes every shard and writes <c>model.safetensors.index.json</c> unless the
    /// output is the single file <c>model.safetensors</c> (loaders find that without an index).</summary>
    public void Complete()
    {
        if (_completed) return;
        foreach (var w in _writers) w.Complete();
        if (_writers.Length > 1 || Shards[0].FileName != Checkpoint.SingleFileName)
            WriteIndex();
        _completed = true;
    }

    private void WriteIndex()
    {
        var entries = Shards
            .SelectMany(s => s.Tensors.Select(t => (t.Name, s.FileName)))
            .OrderBy(e => e.Name, StringComparer.Ordinal);
        var path = Path.Combine(Directory, Checkpoint.IndexFileName);
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteStartObject("metadata");
            json.WriteNumber("total_size", Shards.Sum(s => s.ByteLength));
            json.WriteEndObject();
            json.WriteStartObject("weight_map");
            foreach (var (name, file) in entries) json.WriteString(name, file);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        stream.Flush(flushToDisk: true);
    }

    public void Dispose()
    {
        foreach (var w in _writers) w.Dispose();
    }

    private SafeTensorsFileWriter WriterFor(string name) =>
        _writerOf.TryGetValue(name, out var writer)
            ? writer
            : throw new RoseException($"{Directory}: tensor '{name}' is not in the output checkpoint's plan");
}
