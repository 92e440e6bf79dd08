using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rose.Pipeline;

/// <summary>resume.json: how far an interrupted prune run got (decoder layers completed and written,
/// their matrix reports, the seconds spent) and the fingerprint of the settings that produced it.
/// Beside it, activations.bin holds the calibration hidden states entering the next layer.
/// Both are saved atomically after every layer (temporary files, flushed to disk, then renamed).</summary>
public sealed record ResumePoint
{
    public const string FileName = "resume.json";
    public const string ActivationsFileName = "activations.bin";
    public const int CurrentVersion = 2;
    private const string PendingSuffix = ".tmp";
    private static ReadOnlySpan<byte> ActivationsMagic => "ROSEACT1"u8;

    public int Version { get; init; } = CurrentVersion;
    public required IReadOnlyDictionary<string, string> Fingerprint { get; init; }
    public required int LayerCount { get; init; }
    /// <summary>Decoder layers 0..CompletedLayers-1 are pruned and written, as are all non-layer tensors.</summary>
    public required int CompletedLayers { get; init; }
    /// <summary>Whether activations.bin belongs to this point (not when no calibration is used, nor after the last layer).</summary>
    public bool HasActivations { get; init; }
    public required IReadOnlyList<MatrixReport> Matrices { get; init; }
    public required IReadOnlyDictionary<string, double> Seconds { get; init; }
    public double? PerplexityBefore { get; init; }
    /// <summary>The eval text and window that <see cref="PerplexityBefore"/> was measured with.</summary>
    public string? PerplexityBeforeSetting { get; init; }

    private static readonly JsonSerializerOptions Json = new(PruneReport.Json)
    {
        // A loss can be NaN or infinite; the resume point must still round-trip it exactly.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static bool Exists(string dir) => File.Exists(Path.Combine(dir, FileName));

    /// <summary>Saves this point into <paramref name="dir"/>; <paramref name="saveActivations"/> writes
    /// the runner's states when <see cref="HasActivations"/>. Everything is written and flushed under
    /// temporary names before anything is renamed, so a crash at any moment leaves either the previous
    /// point or this one complete (see <see cref="Load"/>).</summary>
    public void Save(string dir, Action<Stream>? saveActivations)
    {
        if (HasActivations != (saveActivations is not null))
            throw new ArgumentException("activations are saved exactly when the point has them", nameof(saveActivations));
        string activations = Path.Combine(dir, ActivationsFileName), json = Path.Combine(dir, FileName);
        if (saveActivations is not null)
        {
            using var stream = new FileStream(activations + PendingSuffix, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
            Span<byte> header = stackalloc byte[12];
            ActivationsMagic.CopyTo(header);
            BinaryPrimitives.WriteInt32LittleEndian(header[8..], CompletedLayers);
            stream.Write(header);
            saveActivations(stream);
            stream.Flush(flushToDisk: true);
        }
        using (var stream = new FileStream(json + PendingSuffix, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(stream, this, Json);
            stream.Flush(flushToDisk: true);
        }
        if (saveActivations is not null) File.Move(activations + PendingSuffix, activations, overwrite: true);
        File.Move(json + PendingSuffix, json, overwrite: true);
    }

    /// <summary>The latest complete point in <paramref name="dir"/>. A crash between the two renames of
    /// <see cref="Save"/> leaves a fully written pending resume.json whose layer count matches the
    /// already renamed activations.bin; that one is the latest and is promoted.</summary>
    public static ResumePoint Load(string dir)
    {
        string json = Path.Combine(dir, FileName);
        var pending = TryRead(json + PendingSuffix);
        var saved = File.Exists(json) ? Read(json) : null;
        if (pending is not null && (saved is null || pending.CompletedLayers > saved.CompletedLayers)
            && (!pending.HasActivations || ActivationsLayer(dir) == pending.CompletedLayers))
        {
            File.Move(json + PendingSuffix, json, overwrite: true);
            saved = pending;
        }
        return saved ?? throw new RoseException($"{json}: no saved progress; run without --resume");
    }

    /// <summary>activations.bin positioned at the runner's states, after checking it belongs to this point.</summary>
    public FileStream OpenActivations(string dir)
    {
        string path = Path.Combine(dir, ActivationsFileName);
        int? layer = ActivationsLayer(dir);
        if (layer != CompletedLayers)
            throw new RoseException($"{path}: {(layer is null ? "missing or unreadable" : $"holds the activations after layer {layer}, not {CompletedLayers}")}; run without --resume to start over");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        stream.Position = 12;
        return stream;
    }

    /// <summary>Removes the resume files (the run is complete and they are no use in the output).</summary>
    public static void Delete(string dir)
    {
        foreach (var name in new[] { ActivationsFileName, ActivationsFileName + PendingSuffix, FileName, FileName + PendingSuffix })
            File.Delete(Path.Combine(dir, name));
    }

    private static int? ActivationsLayer(string dir)
    {
        string path = Path.Combine(dir, ActivationsFileName);
        if (!File.Exists(path)) return null;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        Span<byte> header = stackalloc byte[12];
        if (stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length || !header[..8].SequenceEqual(ActivationsMagic))
            return null;
        return BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
    }

    private static ResumePoint Read(string path)
    {
        ResumePoint? point;
        try
        {
            point = JsonSerializer.Deserialize<ResumePoint>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new RoseException($"{path}: saved progress is unreadable ({e.Message}); run without --resume to start over", e);
        }
        if (point is null || point.Version != CurrentVersion)
            throw new RoseException($"{path}: saved progress has format version {point?.Version}, this rose reads {CurrentVersion}; run without --resume to start over");
        return point;
    }

    private static ResumePoint? TryRead(string path)
    {
        if (!File.Exists(path)) return null;
        try { return Read(path); }
        catch (RoseException) { return null; }
    }
}
