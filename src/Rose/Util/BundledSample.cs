namespace Rose;

/// <summary>The sample model and texts that ship with Rose (samples/), found beside the program
/// or by walking up from it to the repository.</summary>
public static class BundledSample
{
    public static string ModelDirectory => Path.Combine(Root, "stories260K");
    public static string CalibrationText => Path.Combine(Root, "data", "tinystories-calib.txt");
    public static string EvalText => Path.Combine(Root, "data", "tinystories-eval.txt");

    public static string Root => FindRoot() ?? throw new RoseException(
        "the bundled sample (samples/stories260K) was not found next to the program or in a parent folder; pass --model");

    private static string? FindRoot()
    {
        var env = Environment.GetEnvironmentVariable("ROSE_SAMPLES");
        if (!string.IsNullOrEmpty(env) && File.Exists(Path.Combine(env, "stories260K", "config.json"))) return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "samples");
            if (File.Exists(Path.Combine(candidate, "stories260K", "config.json"))) return candidate;
        }
        return null;
    }
}
