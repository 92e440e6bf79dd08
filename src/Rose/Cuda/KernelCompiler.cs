using System.Globalization;
using Rose.Native;

namespace Rose.Cuda;

/// <summary>A compiled kernel image: CUBIN for a real architecture, or PTX the driver will JIT.</summary>
public sealed record CompiledKernel(string ProgramName, string Architecture, bool IsCubin, byte[] Image, bool FromCache, string CacheKey);

/// <summary>
/// Compiles kernel sources with NVRTC, every embedded header available to #include, and caches
/// the images on disk. Options keep IEEE semantics: no --use_fast_math, no flush-to-zero,
/// correctly rounded division and sqrt. (FMA contraction stays on, as in nvcc; a kernel that
/// needs unfused rounding says so with __fmul_rn/__fadd_rn.)
/// </summary>
public sealed class KernelCompiler
{
    private readonly KernelCache? _cache;
    private readonly IReadOnlyList<KeyValuePair<string, string>> _headers;
    private int _nvrtcCompilations;

    /// <summary>Compiler using the default on-disk cache and the embedded headers.</summary>
    public KernelCompiler() : this(KernelCache.CreateDefault())
    {
    }

    /// <param name="cache">Where images are cached; null compiles every time.</param>
    /// <param name="headers">Headers offered to #include; defaults to the embedded kernels/*.cuh.</param>
    public KernelCompiler(KernelCache? cache, IReadOnlyList<KeyValuePair<string, string>>? headers = null)
    {
        _cache = cache;
        _headers = headers ?? KernelSources.Headers;
    }

    /// <summary>How many times this instance actually ran NVRTC (cache hits do not count).</summary>
    public int NvrtcCompilations => Volatile.Read(ref _nvrtcCompilations);

    public KernelCache? Cache => _cache;

    /// <summary>"sm_XY" for a device's compute capability.</summary>
    public static string ArchitectureFor(int major, int minor) => $"sm_{major}{minor}";

    public static string ArchitectureFor(CudaContext context) =>
        ArchitectureFor(context.ComputeCapabilityMajor, context.ComputeCapabilityMinor);

    /// <summary>
    /// Picks what to ask NVRTC for. A supported sm_XY gives CUBIN, as does an older minor revision
    /// of the same major architecture. Anything newer is clamped to the newest older supported arch
    /// as compute_XY PTX, because a CUBIN only runs within its own major architecture while PTX is
    /// JIT-compiled forward by the driver.
    /// </summary>
    public static (string Target, bool WantCubin) ResolveArchitecture(string requested, IReadOnlyList<int> supported)
    {
        var isVirtual = requested.StartsWith("compute_", StringComparison.Ordinal);
        if (!isVirtual && !requested.StartsWith("sm_", StringComparison.Ordinal)
            || !int.TryParse(requested.AsSpan(requested.IndexOf('_') + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var sm))
        {
            throw new RoseException($"GPU architecture '{requested}' is not of the form sm_XY or compute_XY");
        }

        if (supported.Contains(sm))
        {
            return isVirtual ? ($"compute_{sm}", false) : ($"sm_{sm}", true);
        }

        // A CUBIN runs on later minor revisions of its own major architecture (sm_80 on sm_86).
        var sameMajor = supported.Where(s => s / 10 == sm / 10 && s < sm).DefaultIfEmpty(-1).Max();
        if (!isVirtual && sameMajor >= 0)
        {
            return ($"sm_{sameMajor}", true);
        }

        var older = supported.Where(s => s < sm).DefaultIfEmpty(-1).Max();
        if (older < 0)
        {
            throw new RoseException(
                $"GPU architecture {requested} is older than every architecture this NVRTC supports ({string.Join(", ", supported.Select(s => "sm_" + s))})");
        }

        return ($"compute_{older}", false);
    }

    /// <summary>The NVRTC options used for <paramref name="target"/> (sm_XY or compute_XY).</summary>
    public static IReadOnlyList<string> OptionsFor(string target) =>
    [
        $"--gpu-architecture={target}",
        "-std=c++17",
        "-default-device",
        "--ftz=false",
        "--prec-div=true",
        "--prec-sqrt=true",
    ];

    /// <summary>Compiles the embedded kernel file <paramref name="fileName"/> (e.g. "smoke.cu").</summary>
    public CompiledKernel Compile(string fileName, string architecture) =>
        CompileSource(KernelSources.Get(fileName), fileName.EndsWith(".cu", StringComparison.Ordinal) ? fileName : fileName + ".cu", architecture);

    /// <summary>Compiles for the device behind <paramref name="context"/>.</summary>
    public CompiledKernel Compile(string fileName, CudaContext context) => Compile(fileName, ArchitectureFor(context));

    /// <summary>Compiles the embedded file for the context's device and loads it there.</summary>
    public CudaModule LoadModule(CudaContext context, string fileName) => context.LoadModule(Compile(fileName, context).Image);

    /// <summary>Compiles the embedded files side by side: NVRTC compiles separate programs concurrently, so a
    /// cold cache costs about the slowest file rather than the sum. Images come back in the files' order; the
    /// first failing file's error is thrown.</summary>
    public CompiledKernel[] CompileAll(IReadOnlyList<string> fileNames, string architecture)
    {
        var images = new CompiledKernel[fileNames.Count];
        var errors = new Exception?[fileNames.Count];
        Parallel.For(0, fileNames.Count, i =>
        {
            try
            {
                images[i] = Compile(fileNames[i], architecture);
            }
            catch (Exception e)
            {
                errors[i] = e;
            }
        });
        if (errors.FirstOrDefault(e => e is not null) is { } error)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
        return images;
    }

    /// <summary>Compiles the embedded files for the context's device (<see cref="CompileAll"/>), then loads them
    /// on this thread, in order; on failure the modules already loaded are disposed.</summary>
    public CudaModule[] LoadModules(CudaContext context, IReadOnlyList<string> fileNames)
    {
        var images = CompileAll(fileNames, ArchitectureFor(context));
        var modules = new List<CudaModule>(fileNames.Count);
        try
        {
            foreach (var image in images) modules.Add(context.LoadModule(image.Image));
        }
        catch
        {
            foreach (var module in modules) module.Dispose();
            throw;
        }
        return [.. modules];
    }

    /// <summary>
    /// Compiles <paramref name="source"/>; throws <see cref="CudaException"/> carrying the whole
    /// compile log when NVRTC rejects it.
    /// </summary>
    public CompiledKernel CompileSource(string source, string programName, string architecture)
    {
        var (target, wantCubin) = ResolveArchitecture(architecture, Nvrtc.SupportedArchitectures);
        var options = OptionsFor(target);
        var key = KernelCache.ComputeKey(source, _headers, options, Nvrtc.Version.ToString());
        if (_cache is not null && _cache.TryRead(key, out var cached, out var cachedIsCubin))
        {
            return new CompiledKernel(programName, target, cachedIsCubin, cached, FromCache: true, key);
        }

        Interlocked.Increment(ref _nvrtcCompilations);
        using var program = new NvrtcProgram(source, programName, _headers);
        if (!program.Compile(options))
        {
            throw new CudaException(CudaLibrarySearch.Nvrtc, "nvrtcCompileProgram", 6, "NVRTC_ERROR_COMPILATION",
                $"{programName} did not compile for {target}", detail: program.Log);
        }

        var cubin = wantCubin ? program.TryGetCubin() : null;
        var image = cubin ?? program.GetPtx();
        _cache?.Write(key, image, cubin is not null);
        return new CompiledKernel(programName, target, cubin is not null, image, FromCache: false, key);
    }
}
