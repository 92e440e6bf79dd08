using System.Globalization;

namespace Rose.Native;

/// <summary>
/// The ordered list of files to try for each logical CUDA library. Versioned sonames come first
/// because the unversioned libX.so link exists only with a development package installed.
/// </summary>
public static class CudaLibrarySearch
{
    public const string Driver = "cuda";
    public const string Nvrtc = "nvrtc";
    public const string Cublas = "cublas";
    public const string Cusolver = "cusolver";

    public static IReadOnlyList<string> LogicalNames { get; } = [Driver, Nvrtc, Cublas, Cusolver];

    /// <summary>File names for a logical library, preferred first.</summary>
    public static IReadOnlyList<string> FileNames(string logicalName, bool isWindows) => (logicalName, isWindows) switch
    {
        (Driver, false) => ["libcuda.so.1", "libcuda.so"],
        (Nvrtc, false) => ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"],
        (Cublas, false) => ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"],
        (Cusolver, false) => ["libcusolver.so.12", "libcusolver.so.11", "libcusolver.so"],
        (Driver, true) => ["nvcuda.dll"],
        (Nvrtc, true) => ["nvrtc64_130_0.dll", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll"],
        (Cublas, true) => ["cublas64_13.dll", "cublas64_12.dll", "cublas64_11.dll"],
        (Cusolver, true) => ["cusolver64_12.dll", "cusolver64_11.dll"],
        _ => throw new ArgumentException($"unknown CUDA library '{logicalName}'", nameof(logicalName)),
    };

    /// <summary>
    /// Directories to search, in order; a null entry stands for the dynamic loader's own search
    /// (LD_LIBRARY_PATH, ldconfig cache, RUNPATH), where a bare file name is passed to dlopen.
    /// </summary>
    public static IReadOnlyList<string?> Directories(string logicalName, LibrarySearchEnvironment env)
    {
        var dirs = new List<string?>();
        void Add(string? dir)
        {
            if (dir is null)
            {
                if (!dirs.Contains(null))
                {
                    dirs.Add(null);
                }

                return;
            }

            var trimmed = dir.TrimEnd('/', '\\');
            if (trimmed.Length > 0 && !dirs.Contains(trimmed))
            {
                dirs.Add(trimmed);
            }
        }

        var explicitDirs = (env.GetVariable("ROSE_CUDA_LIB_DIR") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var dir in explicitDirs)
        {
            Add(dir);
        }

        // The driver library must match the kernel module, so the loader's copy (installed with the
        // driver) beats anything a toolkit folder might hold, unless the user named a folder.
        if (logicalName == Driver)
        {
            Add(null);
        }

        foreach (var variable in new[] { "CUDA_PATH", "CUDA_HOME" })
        {
            var root = env.GetVariable(variable);
            if (string.IsNullOrWhiteSpace(root))
            {
                continue;
            }

            if (env.IsWindows)
            {
                Add(Path.Combine(root, "bin", "x64"));
                Add(Path.Combine(root, "bin"));
            }
            else
            {
                Add(Path.Combine(root, "lib64"));
                Add(Path.Combine(root, "lib"));
            }
        }

        if (env.IsWindows)
        {
            Add(null);
            return dirs;
        }

        foreach (var toolkit in ToolkitRoots(env))
        {
            Add(toolkit + "/lib64");
        }

        Add(null);
        Add("/usr/lib/x86_64-linux-gnu");
        if (logicalName == Driver)
        {
            Add("/usr/local/nvidia/lib64");
            Add("/usr/lib/wsl/lib");
            return dirs;
        }

        foreach (var sitePackages in SitePackages(env))
        {
            Add(sitePackages + "/nvidia/cu13/lib");
            foreach (var package in env.ListDirectories(sitePackages + "/nvidia", "*").Order(StringComparer.Ordinal))
            {
                if (!package.EndsWith("/cu13", StringComparison.Ordinal))
                {
                    Add(package + "/lib");
                }
            }
        }

        return dirs;
    }

    /// <summary>Every path to try, in order: for each directory, each file name.</summary>
    public static IEnumerable<string> Candidates(string logicalName, LibrarySearchEnvironment env)
    {
        var names = FileNames(logicalName, env.IsWindows);
        foreach (var dir in Directories(logicalName, env))
        {
            foreach (var name in names)
            {
                yield return dir is null ? name : Path.Combine(dir, name);
            }
        }
    }

    /// <summary>/usr/local/cuda-X.Y folders newest first, then the plain /usr/local/cuda link.</summary>
    internal static IEnumerable<string> ToolkitRoots(LibrarySearchEnvironment env)
    {
        var versioned = env.ListDirectories("/usr/local", "cuda-*")
            .Select(path => (path, version: ParseVersion(Path.GetFileName(path.TrimEnd('/'))["cuda-".Length..])))
            .Where(x => x.version is not null)
            .OrderByDescending(x => x.version)
            .Select(x => x.path.TrimEnd('/'));
        foreach (var path in versioned)
        {
            yield return path;
        }

        if (env.DirectoryExists("/usr/local/cuda"))
        {
            yield return "/usr/local/cuda";
        }
    }

    private static Version? ParseVersion(string text)
    {
        var parts = text.Split('.');
        var numbers = new int[Math.Max(parts.Length, 2)];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out numbers[i]))
            {
                return null;
            }
        }

        return parts.Length switch
        {
            1 or 2 => new Version(numbers[0], numbers[1]),
            3 => new Version(numbers[0], numbers[1], numbers[2]),
            _ => new Version(numbers[0], numbers[1], numbers[2], numbers[3]),
        };
    }

    /// <summary>Python site-packages folders where NVIDIA's pip wheels put their libraries.</summary>
    internal static IEnumerable<string> SitePackages(LibrarySearchEnvironment env)
    {
        var prefixes = new List<string>();
        foreach (var variable in new[] { "VIRTUAL_ENV", "CONDA_PREFIX" })
        {
            var value = env.GetVariable(variable);
            if (!string.IsNullOrWhiteSpace(value))
            {
                prefixes.Add(value.TrimEnd('/'));
            }
        }

        // Any venv whose bin folder is on PATH (activated or not) may carry the wheels.
        foreach (var entry in (env.GetVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var trimmed = entry.TrimEnd('/');
            if (trimmed.EndsWith("/bin", StringComparison.Ordinal) && trimmed.Length > 4)
            {
                var prefix = trimmed[..^4];
                if (prefix is not "/usr" and not "/usr/local" and not "" && !prefixes.Contains(prefix))
                {
                    prefixes.Add(prefix);
                }
            }
        }

        var roots = new List<(string Parent, string Folder)>();
        foreach (var prefix in prefixes)
        {
            roots.Add((prefix + "/lib", "site-packages"));
        }

        roots.Add(("/usr/local/lib", "dist-packages"));
        roots.Add(("/usr/local/lib", "site-packages"));
        roots.Add(("/usr/lib", "dist-packages"));
        roots.Add(("/usr/lib", "site-packages"));
        var home = env.GetVariable("HOME");
        if (!string.IsNullOrWhiteSpace(home))
        {
            roots.Add((home.TrimEnd('/') + "/.local/lib", "site-packages"));
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (parent, folder) in roots)
        {
            foreach (var python in env.ListDirectories(parent, "python3*").OrderDescending(StringComparer.Ordinal))
            {
                var site = python.TrimEnd('/') + "/" + folder;
                if (env.DirectoryExists(site + "/nvidia") && seen.Add(site))
                {
                    yield return site;
                }
            }
        }
    }
}
