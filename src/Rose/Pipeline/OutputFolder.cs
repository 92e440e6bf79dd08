namespace Rose.Pipeline;

/// <summary>A run writes into a hidden temporary folder beside --out and renames it into place only
/// when everything is written, so an interrupted run never leaves a half-written model at --out.</summary>
public sealed class OutputFolder : IDisposable
{
    private bool _committed;

    private OutputFolder(string final, string temp)
    {
        FinalPath = final;
        TempPath = temp;
    }

    public string FinalPath { get; }
    public string TempPath { get; }

    public static OutputFolder Begin(string outDir, string inputDir, bool force)
    {
        string final = Path.GetFullPath(outDir).TrimEnd(Path.DirectorySeparatorChar);
        string input = Path.GetFullPath(inputDir).TrimEnd(Path.DirectorySeparatorChar);
        if (string.Equals(final, input, StringComparison.Ordinal))
            throw new RoseException($"--out {outDir} is the input model folder; the input is never modified, choose another folder");
        if ((Directory.Exists(final) || File.Exists(final)) && !force)
            throw new RoseException($"--out {outDir} already exists; pass --force to replace it");
        string parent = Path.GetDirectoryName(final) ?? ".";
        Directory.CreateDirectory(parent);
        string temp = Path.Combine(parent, $".{Path.GetFileName(final)}.rose-tmp-{Environment.ProcessId}");
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        Directory.CreateDirectory(temp);
        return new OutputFolder(final, temp);
    }

    /// <summary>Copies config, tokenizer and other side files (everything but the weights).</summary>
    public void CopySideFiles(string inputDir)
    {
        foreach (var file in Directory.EnumerateFiles(inputDir))
        {
            string name = Path.GetFileName(file);
            if (name.EndsWith(".safetensors", StringComparison.Ordinal) || name == SafeTensors.Checkpoint.IndexFileName
                || name == "rose-report.json") continue;
            File.Copy(file, Path.Combine(TempPath, name), overwrite: true);
        }
    }

    public void Commit()
    {
        if (Directory.Exists(FinalPath)) Directory.Delete(FinalPath, recursive: true);
        else if (File.Exists(FinalPath)) File.Delete(FinalPath);
        Directory.Move(TempPath, FinalPath);
        _committed = true;
    }

    public void Dispose()
    {
        if (!_committed && Directory.Exists(TempPath))
        {
            try { Directory.Delete(TempPath, recursive: true); }
            catch (IOException) { /* best effort: a leftover temp folder is harmless */ }
        }
    }
}
