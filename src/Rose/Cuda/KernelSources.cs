using System.Reflection;
using System.Text;

namespace Rose.Cuda;

/// <summary>
/// The kernels/*.cu and kernels/*.cuh files embedded in this assembly, by file name
/// ("smoke.cu", "rose_common.cuh"). Loaded once; the texts never change at run time.
/// </summary>
public static class KernelSources
{
    private const string Prefix = "kernels/";
    private static readonly Lazy<IReadOnlyDictionary<string, string>> Embedded = new(LoadAll);

    /// <summary>Every embedded file, name to text.</summary>
    public static IReadOnlyDictionary<string, string> All => Embedded.Value;

    /// <summary>Names of the compilable sources (*.cu), sorted.</summary>
    public static IReadOnlyList<string> KernelFiles =>
        All.Keys.Where(k => k.EndsWith(".cu", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();

    /// <summary>Headers (*.cuh) as (include name, text), sorted by name; handed to NVRTC with every program.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Headers =>
        All.Where(kv => kv.Key.EndsWith(".cuh", StringComparison.Ordinal)).OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray();

    /// <summary>The text of <paramref name="fileName"/> ("smoke.cu"; "smoke" also finds it).</summary>
    public static string Get(string fileName)
    {
        if (All.TryGetValue(fileName, out var text) || All.TryGetValue(fileName + ".cu", out text))
        {
            return text;
        }

        throw new RoseException($"kernel source '{fileName}' is not embedded in Rose (known: {string.Join(", ", All.Keys.Order(StringComparer.Ordinal))})");
    }

    private static IReadOnlyDictionary<string, string> LoadAll()
    {
        var assembly = typeof(KernelSources).Assembly;
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(Prefix, StringComparison.Ordinal))
            {
                continue;
            }

            using var stream = assembly.GetManifestResourceStream(resource)
                ?? throw new RoseException($"embedded kernel resource '{resource}' could not be opened");
            using var reader = new StreamReader(stream, Encoding.UTF8);
            result[resource[Prefix.Length..]] = reader.ReadToEnd();
        }

        return result;
    }
}
