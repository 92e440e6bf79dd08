using Rose.Modeling;

namespace Rose.Pipeline;

/// <summary>The disk a prune still has to fill beside --out, checked before the first layer so that a run
/// does not stop hours in on a full disk. The output is as large as the input (the same dtypes, shapes and
/// shards; a shard is a sparse file that fills as its layers are written); a resume point that carries the
/// calibration activations writes its new copy beside the old one before replacing it, so a fresh run needs
/// room for two copies and a resumed one, whose copy is on disk already, for one more.</summary>
/// <param name="TensorBytes">The tensors not yet written.</param>
/// <param name="OtherFileBytes">The config, tokenizer and other files copied beside the tensors (0 when resumed: already there).</param>
/// <param name="ResumePointBytes">The activations' copies that resume points may add.</param>
public sealed record OutputSpace(long TensorBytes, long OtherFileBytes, long ResumePointBytes)
{
    public long Needed => TensorBytes + OtherFileBytes + ResumePointBytes;

    /// <summary>What a run still writes: on a fresh run every tensor and side file; on a resumed one the tensors of
    /// layers from <paramref name="firstLayer"/> on (the rest is on disk, even when it stopped inside layer 0);
    /// <paramref name="activationBytes"/> is one resume point's calibration activations, or 0 when the points carry none.</summary>
    public static OutputSpace Of(LlamaModel input, bool resumed, int firstLayer, long activationBytes)
    {
        bool fresh = !resumed;
        var tensors = fresh
            ? input.Checkpoint.TensorNames
            : Enumerable.Range(firstLayer, input.LayerCount - firstLayer).SelectMany(l => PruningPipeline.TensorsOfLayer(input.Checkpoint, l));
        long others = fresh ? OutputFolder.SideFiles(input.Directory).Sum(path => new FileInfo(path).Length) : 0;
        return new OutputSpace(tensors.Sum(name => input.Checkpoint.GetInfo(name).ByteLength), others, (fresh ? 2 : 1) * activationBytes);
    }

    /// <summary>Why this does not fit in the <paramref name="free"/> bytes where <paramref name="folder"/> is, or null.</summary>
    public string? Shortfall(string folder, long free)
    {
        if (Needed <= free) return null;
        string parts = $"tensors {ByteSize.Format(TensorBytes)}, other files {ByteSize.Format(OtherFileBytes)}"
            + (ResumePointBytes > 0 ? $", resume points' calibration activations {ByteSize.Format(ResumePointBytes)}" : "");
        return $"the pruned model needs {ByteSize.Format(Needed)} of disk in {folder} ({parts}) but only {ByteSize.Format(free)} is free there; "
            + "free some space or choose an --out on another disk";
    }

    /// <summary>The bytes this user may still write on the file system holding <paramref name="folder"/>, or null
    /// where the system does not tell.</summary>
    public static long? FreeBytes(string folder)
    {
        try
        {
            return new DriveInfo(Path.GetFullPath(folder)).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or PlatformNotSupportedException)
        {
            return null;
        }
    }
}
