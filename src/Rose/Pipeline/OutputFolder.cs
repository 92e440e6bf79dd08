namespace Rose.Pipeline;

/// <summary>A run writes into the hidden folder <c>.&lt;outname&gt;.rose-partial</c> beside --out and
/// renames it into place only when everything is written, so an interrupted run never leaves a
/// half-written model at --out. The folder's name is fixed so an interrupted run can be resumed:
/// it is kept whenever it holds a resume point and removed otherwise.</summary>
public sealed class OutputFolder : IDisposable
{
    public const string PartialSuffix = ".rose-partial";

    private readonly FileStream _lock;
    private readonly string _lockPath;
    private bool _committed;

    private OutputFolder(string final, string temp, FileStream lockFile, string lockPath)
    {
        FinalPath = final;
        TempPath = temp;
        _lock = lockFile;
        _lockPath = lockPath;
    }

    public string FinalPath { get; }
    public string TempPath { get; }

    /// <summary>Whether the folder holds saved progress (it then survives a failed or cancelled run).</summary>
    public bool HasResumePoint => ResumePoint.Exists(TempPath);

    /// <summary>The partial folder of --out <paramref name="outDir"/>.</summary>
    public static string PartialPathFor(string outDir)
    {
        string final = Path.GetFullPath(outDir).TrimEnd(Path.DirectorySeparatorChar);
        return Path.Combine(Path.GetDirectoryName(final) ?? ".", $".{Path.GetFileName(final)}{PartialSuffix}");
    }

    /// <summary>Opens the partial folder: with <paramref name="resume"/> the saved one (which must hold
    /// a resume point), otherwise a fresh one, replacing any an earlier run left.</summary>
    public static OutputFolder Begin(string outDir, string inputDir, bool force, bool resume = false, TextWriter? log = null)
    {
        string final = Path.GetFullPath(outDir).TrimEnd(Path.DirectorySeparatorChar);
        string input = Path.GetFullPath(inputDir).TrimEnd(Path.DirectorySeparatorChar);
        if (string.Equals(final, input, StringComparison.Ordinal))
            throw new RoseException($"--out {outDir} is the input model folder; the input is never modified, choose another folder");
        if ((Directory.Exists(final) || File.Exists(final)) && !force)
            throw new RoseException($"--out {outDir} already exists; pass --force to replace it");
        string parent = Path.GetDirectoryName(final) ?? ".";
        Directory.CreateDirectory(parent);
        string temp = PartialPathFor(final);
        if (resume && !ResumePoint.Exists(temp))
            throw new RoseException($"no saved progress for --out {outDir}; run without --resume");

        // The folder name is fixed, so two runs for one --out would write into each other.
        string lockPath = temp + ".lock";
        FileStream lockFile;
        try
        {
            lockFile = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new RoseException($"{temp}: another rose prune is writing --out {outDir} ({e.Message})", e);
        }
        try
        {
            if (!resume)
            {
                if (Directory.Exists(temp))
                {
                    log?.WriteLine($"replacing the unfinished run in {temp} (pass --resume to continue it instead)");
                    Directory.Delete(temp, recursive: true);
                }
                Directory.CreateDirectory(temp);
            }
            return new OutputFolder(final, temp, lockFile, lockPath);
        }
        catch
        {
            lockFile.Dispose();
            throw;
        }
    }

    /// <summary>Copies config, tokenizer and other side files (everything but the weights).</summary>
    public void CopySideFiles(string inputDir)
    {
        foreach (var file in SideFiles(inputDir))
            File.Copy(file, Path.Combine(TempPath, Path.GetFileName(file)), overwrite: true);
    }

    /// <summary>The input's files that the output gets as they are: everything but the weights, their index and
    /// an earlier prune's report.</summary>
    public static IEnumerable<string> SideFiles(string inputDir) =>
        Directory.EnumerateFiles(inputDir).Where(file =>
        {
            string name = Path.GetFileName(file);
            return !name.EndsWith(".safetensors", StringComparison.Ordinal) && name != SafeTensors.Checkpoint.IndexFileName
                && name != "rose-report.json";
        });

    /// <summary>Moves the finished folder to --out. The resume files go only after the move, so a
    /// failure here still leaves a resumable folder.</summary>
    public void Commit()
    {
        File.Delete(Path.Combine(TempPath, ResumePoint.ActivationsFileName));
        if (Directory.Exists(FinalPath)) Directory.Delete(FinalPath, recursive: true);
        else if (File.Exists(FinalPath)) File.Delete(FinalPath);
        Directory.Move(TempPath, FinalPath);
        _committed = true;
        ResumePoint.Delete(FinalPath);
    }

    public void Dispose()
    {
        if (!_committed && Directory.Exists(TempPath) && !HasResumePoint)
        {
            try { Directory.Delete(TempPath, recursive: true); }
            catch (IOException) { /* best effort: a leftover partial folder is replaced by the next run */ }
        }
        try { File.Delete(_lockPath); }
        catch (IOException) { /* best effort: a stale lock file is reopened by the next run */ }
        _lock.Dispose();
    }
}
