using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Rose.Modeling;
using Rose.Pruning;
using Rose.SafeTensors;

namespace Rose.Pipeline;

/// <summary>Every setting that determines a prune run's output, as named text values, so a resumed
/// run can prove it continues the same computation and otherwise say which setting differs.</summary>
public static class RunFingerprint
{
    public static Dictionary<string, string> Of(PruneRunOptions options, LlamaModel model, int seqLen, IReadOnlyList<ShardPlan> plan, string backend)
    {
        var prune = options.Prune;
        bool calibrated = prune.Method != PruneMethod.Magnitude;
        const string unused = "unused";
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["--model"] = Path.GetFullPath(options.ModelDirectory),
            ["model shards"] = string.Join(", ", model.Checkpoint.ShardFiles.Select(s => $"{s} {FileLength(Path.Combine(model.Directory, s))} bytes")),
            ["--method"] = prune.Method.ToString().ToLowerInvariant(),
            ["--sparsity"] = Number(prune.Sparsity),
            ["--pattern"] = prune.Pattern?.ToString() ?? "none",
            ["--blocksize"] = prune.BlockSize.ToString(CultureInfo.InvariantCulture),
            ["--damp"] = Number(prune.Damp),
            ["--score-stat"] = prune.Method is PruneMethod.Rose or PruneMethod.Wanda ? prune.EffectiveScoreStat.ToString().ToLowerInvariant() : unused,
            ["--calib"] = calibrated ? Path.GetFullPath(options.CalibrationPath) : unused,
            ["calibration file size"] = calibrated ? $"{FileLength(options.CalibrationPath)} bytes" : unused,
            ["--calib-sampling"] = calibrated ? options.Sampling.ToString().ToLowerInvariant() : unused,
            ["--nsamples"] = calibrated ? options.NSamples.ToString(CultureInfo.InvariantCulture) : unused,
            ["--seqlen"] = calibrated ? seqLen.ToString(CultureInfo.InvariantCulture) : unused,
            ["--seed"] = calibrated && options.Sampling == CalibrationSampling.Random ? options.Seed.ToString(CultureInfo.InvariantCulture) : unused,
            ["output layout"] = LayoutDigest(plan),
            // Backends round differently, so mixing them would give a result neither gives alone.
            ["backend"] = backend,
        };
    }

    /// <summary>Throws naming the first setting whose saved value differs from this run's.</summary>
    public static void EnsureSame(IReadOnlyDictionary<string, string> saved, IReadOnlyDictionary<string, string> current, string folder)
    {
        foreach (var (key, value) in current)
        {
            string was = saved.TryGetValue(key, out var v) ? v : "(not recorded)";
            if (!string.Equals(was, value, StringComparison.Ordinal))
                throw new RoseException($"cannot resume from {folder}: it was saved with {key} {was}, this run has {key} {value}; use the original settings, or run without --resume to start over");
        }
    }

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string FileLength(string path) => File.Exists(path) ? new FileInfo(path).Length.ToString(CultureInfo.InvariantCulture) : "missing";

    /// <summary>Shard files, tensor order, dtypes and shapes of the output, hashed to a short digest.</summary>
    private static string LayoutDigest(IReadOnlyList<ShardPlan> plan)
    {
        var text = new StringBuilder();
        foreach (var shard in plan)
        {
            text.Append(shard.FileName).Append('\n');
            foreach (var t in shard.Tensors)
                text.Append(t.Name).Append(' ').Append(t.DType.ToSafeTensorsString()).Append(' ').AppendJoin(',', t.Shape).Append('\n');
        }
        return "sha256:" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16].ToLowerInvariant();
    }
}
