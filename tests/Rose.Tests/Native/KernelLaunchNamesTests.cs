using System.Text.RegularExpressions;
using NUnit.Framework;
using Rose.Cuda;

namespace Rose.Tests.Native;

/// <summary>Every kernel the C# side launches by name exists in the file it is looked up in, and that
/// file is one the backend loads: a missing entry point or module otherwise shows only on a GPU,
/// halfway through a run (grid_select.cu was once launched from but never loaded).</summary>
[TestFixture]
public sealed partial class KernelLaunchNamesTests
{
    [GeneratedRegex("\"(?<file>\\w+\\.cu)\",\\s*\"(?<name>\\w+)\"")]
    private static partial Regex BackendLaunch();

    [GeneratedRegex("Kernel\\(\\$?\"(?<name>[^\"]+)\"\\)")]
    private static partial Regex ForwardLaunch();

    [GeneratedRegex("string\\[\\] files = \\[(?<files>[^\\]]+)\\]")]
    private static partial Regex ForwardFiles();

    [Test]
    public void BackendLaunchesKernelsOfLoadedFiles()
    {
        var launches = LaunchesIn("CudaBackend.cs", BackendLaunch()).ToList();
        Assert.That(launches, Has.Count.GreaterThan(10), "the pattern no longer finds the backend's launches");
        foreach (var (file, name) in launches)
        {
            Assert.That(CudaKernels.Files, Does.Contain(file), $"{name} is launched from {file}, which CudaKernels does not load");
            Assert.That(Declares(KernelSources.Get(file), name), Is.True, $"{file} declares no kernel {name}");
        }
    }

    [Test]
    public void ForwardLaunchesKernelsThatExist()
    {
        var names = LaunchesIn(Path.Combine("Forward", "ForwardKernels.cs"), ForwardLaunch()).Select(l => l.Name).ToList();
        Assert.That(names, Has.Count.GreaterThan(8), "the pattern no longer finds the forward's launches");
        // Only the files ForwardKernels loads count: a kernel in a file it does not load is not found at run time.
        var list = ForwardFiles().Match(File.ReadAllText(Path.Combine(SourceFolder(), "Forward", "ForwardKernels.cs")));
        Assert.That(list.Success, Is.True, "the list of files ForwardKernels loads was not found");
        var files = Regex.Matches(list.Groups["files"].Value, "\"(?<f>[\\w.]+)\"").Select(m => m.Groups["f"].Value).ToList();
        Assert.That(files, Has.Count.GreaterThan(5));
        var sources = string.Join("\n", files.Select(KernelSources.Get));
        foreach (var pattern in names)
        {
            var expansions = Expand(pattern).ToList();
            Assert.That(expansions.Any(n => Declares(sources, n)), Is.True, $"no kernel matches {pattern} (tried {string.Join(", ", expansions)})");
        }
    }

    private static IEnumerable<string> Expand(string pattern)
    {
        var holes = Regex.Matches(pattern, "\\{[^}]+\\}").Select(m => m.Value).Distinct().ToList();
        IEnumerable<string> results = [pattern];
        foreach (var hole in holes)
        {
            string[] values = hole.StartsWith("{Suffix", StringComparison.Ordinal) ? ["f32", "bf16", "f16"] : ["64", "128"];
            results = results.SelectMany(r => values.Select(v => r.Replace(hole, v, StringComparison.Ordinal))).ToList();
        }
        return results;
    }

    private static bool Declares(string source, string name) =>
        Regex.IsMatch(source, $"__global__\\s+void\\s+(__launch_bounds__\\([^)]*\\)\\s+)?{Regex.Escape(name)}\\s*\\(");

    private static IEnumerable<(string File, string Name)> LaunchesIn(string relativePath, Regex pattern)
    {
        var path = Path.Combine(SourceFolder(), relativePath);
        foreach (Match m in pattern.Matches(File.ReadAllText(path)))
            yield return (m.Groups["file"].Value, m.Groups["name"].Value);
    }

    private static string SourceFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "src", "Rose", "Cuda");
            if (File.Exists(Path.Combine(candidate, "CudaBackend.cs"))) return candidate;
        }
        Assert.Ignore("src/Rose/Cuda not found above the test binaries");
        return "";
    }
}
