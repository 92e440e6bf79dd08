using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Rose.Native;

/// <summary>
/// Loads the CUDA libraries by logical name ("cuda", "nvrtc", "cublas", "cusolver") for every
/// <c>LibraryImport</c> in this assembly, and remembers where each came from.
/// </summary>
public static class CudaLibraries
{
    private static readonly ConcurrentDictionary<string, Lazy<LoadResult>> Loaded = new(StringComparer.Ordinal);
    private static int _resolverInstalled;

    private sealed record LoadResult(IntPtr Handle, string? Path, string Why);

    /// <summary>Installs the assembly's import resolver; called from every binding class's static constructor.</summary>
    internal static void EnsureResolver()
    {
        if (Interlocked.Exchange(ref _resolverInstalled, 1) == 0)
        {
            NativeLibrary.SetDllImportResolver(typeof(CudaLibraries).Assembly, Resolve);
        }
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        CudaLibrarySearch.LogicalNames.Contains(libraryName) ? Load(libraryName).Handle : IntPtr.Zero;

    /// <summary>Tries to load a library; on failure <paramref name="why"/> lists what was tried.</summary>
    public static bool TryLoad(string logicalName, out string why)
    {
        EnsureResolver();
        var result = Load(logicalName);
        why = result.Why;
        return result.Handle != IntPtr.Zero;
    }

    /// <summary>Loads a library or throws a <see cref="CudaException"/> saying what was tried.</summary>
    public static void Require(string logicalName, string function)
    {
        if (!TryLoad(logicalName, out var why))
        {
            throw CudaException.LibraryMissing(logicalName, function, why);
        }
    }

    /// <summary>The file a library was loaded from, or null when it is not (yet) loaded.</summary>
    public static string? LoadedFrom(string logicalName) =>
        Loaded.TryGetValue(logicalName, out var lazy) && lazy.IsValueCreated ? lazy.Value.Path : null;

    private static LoadResult Load(string logicalName) =>
        Loaded.GetOrAdd(logicalName, name => new Lazy<LoadResult>(() => Search(name))).Value;

    private static LoadResult Search(string logicalName)
    {
        var tried = new List<string>();
        foreach (var candidate in CudaLibrarySearch.Candidates(logicalName, LibrarySearchEnvironment.Current))
        {
            var bare = !candidate.Contains('/') && !candidate.Contains('\\');
            if (!bare && !File.Exists(candidate))
            {
                continue;
            }

            tried.Add(candidate);
            if (NativeLibrary.TryLoad(candidate, out var handle))
            {
                var path = bare ? FindMappedPath(candidate) ?? candidate : Path.GetFullPath(candidate);
                return new LoadResult(handle, path, $"loaded {path}");
            }
        }

        var names = string.Join(", ", CudaLibrarySearch.FileNames(logicalName, OperatingSystem.IsWindows()));
        var why = tried.Count == 0
            ? $"none of {names} found (set ROSE_CUDA_LIB_DIR to the folder holding it)"
            : $"could not load any of: {string.Join(", ", tried)} (set ROSE_CUDA_LIB_DIR to the folder holding a working copy)";
        return new LoadResult(IntPtr.Zero, null, why);
    }

    /// <summary>
    /// After dlopen of a bare soname, reads where the loader actually found it, so that
    /// <see cref="LoadedFrom"/> names a real file for diagnostics.
    /// </summary>
    private static string? FindMappedPath(string fileName)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                var slash = line.IndexOf('/');
                if (slash >= 0 && line.EndsWith("/" + fileName, StringComparison.Ordinal))
                {
                    return line[slash..];
                }
            }

            // The soname may be a link to a fully versioned file (libnvrtc.so.11.2 -> libnvrtc.so.11.8.89).
            var stem = fileName.Split(".so")[0] + ".so";
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                var slash = line.IndexOf('/');
                if (slash >= 0 && line.Contains("/" + stem, StringComparison.Ordinal))
                {
                    return line[slash..];
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }
}
