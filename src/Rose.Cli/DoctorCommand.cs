using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Rose.Cuda;
using Rose.Cuda.Forward;
using Rose.Native;
using Rose.SafeTensors;

namespace Rose.Cli;

/// <summary>`rose doctor`: what the CUDA backend would run on, and whether every kernel compiles.</summary>
public static class DoctorCommand
{
    public static Command Create(TextWriter stdout)
    {
        var compileOnly = new Option<bool>("--compile-only")
        {
            Description = "only compile every kernel with NVRTC (no GPU needed)",
        };
        var arch = new Option<string?>("--arch")
        {
            Description = "target architecture, e.g. sm_80 or sm_90 (default: the device's, or sm_80 with --compile-only)",
        };
        var command = new Command("doctor", "Report GPUs, CUDA library versions and paths, and compile every kernel")
        {
            compileOnly, arch,
        };
        command.SetAction(parse => CommandGuard.Run(() =>
            parse.GetValue(compileOnly)
                ? CompileAll(stdout, parse.GetValue(arch) ?? "sm_80")
                : FullReport(stdout, parse.GetValue(arch))));
        return command;
    }

    /// <summary>Compiles every embedded kernel for <paramref name="arch"/>; 0 when all compile.</summary>
    private static int CompileAll(TextWriter stdout, string arch)
    {
        if (!Nvrtc.TryLoad(out var why))
            throw new RoseException($"NVRTC is not available: {why}");
        var compiler = new KernelCompiler(cache: null);
        int failures = 0;
        foreach (var file in KernelSources.KernelFiles)
        {
            var clock = Stopwatch.StartNew();
            try
            {
                var compiled = compiler.Compile(file, arch);
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{file,-16} ok      {compiled.Image.Length,9} B {clock.Elapsed.TotalMilliseconds,8:F0} ms  {compiled.Architecture} {(compiled.IsCubin ? "cubin" : "ptx")}"));
            }
            catch (CudaException e)
            {
                failures++;
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{file,-16} FAILED  {0,9} B {clock.Elapsed.TotalMilliseconds,8:F0} ms"));
                stdout.WriteLine(e.Detail ?? e.Message);
            }
        }
        stdout.WriteLine(failures == 0
            ? $"all {KernelSources.KernelFiles.Count} kernel files compile for {arch}"
            : $"{failures} of {KernelSources.KernelFiles.Count} kernel files FAILED to compile for {arch}");
        return failures == 0 ? 0 : 1;
    }

    private static int FullReport(TextWriter stdout, string? arch)
    {
        bool ok = true;
        string? deviceArch = null;
        if (CudaDriver.TryInitialize(out var driverWhy))
        {
            int v = CudaDriver.Version;
            stdout.WriteLine($"driver    CUDA {v / 1000}.{v % 1000 / 10}  ({CudaLibraries.LoadedFrom(CudaLibrarySearch.Driver) ?? "libcuda"})");
            int count = CudaDriver.DeviceCount;
            if (count == 0)
            {
                stdout.WriteLine("device    none: the driver reports 0 devices");
                ok = false;
            }
            for (int i = 0; i < count; i++)
            {
                using var context = CudaContext.Create(i);
                var (free, total) = context.MemoryInfo();
                string sm = KernelCompiler.ArchitectureFor(context);
                deviceArch ??= sm;
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"device {i}  {context.Name}, compute capability {context.ComputeCapabilityMajor}.{context.ComputeCapabilityMinor} ({sm}), {total / (1024.0 * 1024 * 1024):F1} GiB ({free / (1024.0 * 1024 * 1024):F1} GiB free), {context.MultiprocessorCount} SMs"));
                if (context.ComputeCapabilityMajor < 8)
                {
                    stdout.WriteLine($"          the CUDA backend needs sm_80 or newer; this device will not be used");
                    ok = false;
                }
                if (i == 0) ok &= ReportCublas(stdout, context);
            }
        }
        else
        {
            stdout.WriteLine($"driver    unavailable: {driverWhy}");
            ok = false;
        }

        if (Nvrtc.TryLoad(out var nvrtcWhy))
            stdout.WriteLine($"nvrtc     {Nvrtc.Version}  ({CudaLibraries.LoadedFrom(CudaLibrarySearch.Nvrtc)})");
        else
        {
            stdout.WriteLine($"nvrtc     unavailable: {nvrtcWhy}");
            ok = false;
        }
        if (CudaLibraries.TryLoad(CudaLibrarySearch.Cusolver, out var solverWhy))
        {
            int v = CusolverHandle.Version;
            stdout.WriteLine($"cusolver  {v / 1000}.{v % 1000 / 100}.{v % 100}  ({CudaLibraries.LoadedFrom(CudaLibrarySearch.Cusolver)})");
        }
        else
        {
            stdout.WriteLine($"cusolver  unavailable: {solverWhy}");
            ok = false;
        }

        if (Nvrtc.TryLoad(out _))
        {
            string target = arch ?? deviceArch ?? "sm_80";
            stdout.WriteLine($"kernels for {target}:");
            ok &= CompileAll(stdout, target) == 0;
            if (ok && deviceArch is not null) ReportAttention(stdout);
        }
        stdout.WriteLine(ok ? "doctor: the CUDA backend is usable" : "doctor: the CUDA backend is NOT usable (see above); pruning falls back to the CPU");
        return ok ? 0 : 1;
    }

    /// <summary>Which attention kernel 16-bit models get on device 0, from the tensor-core kernel's probe.</summary>
    private static void ReportAttention(TextWriter stdout)
    {
        using var context = CudaContext.Create(0);
        using var kernels = new ForwardKernels(context);
        foreach (var dtype in new[] { DType.BF16, DType.F16 })
        {
            var probes = new[] { 64, 128 }.Select(d => kernels.ProbeTensorCores(dtype, d)).ToArray();
            string detail = string.Join(", ", probes.Select(p => string.Create(CultureInfo.InvariantCulture,
                $"head_dim {p.HeadDim}: max |Δ| {p.MaxDifference:G3} of {p.Tolerance:G3} allowed")));
            string kernel = ForwardKernels.TensorCoreAttentionByDefault switch
            {
                true => "tensor cores (ROSE_ATTENTION=mma)",
                false => "fp32 kernel (ROSE_ATTENTION=simt)",
                null => probes.All(p => p.Agrees) ? "tensor cores" : "fp32 kernel where the tensor cores disagree",
            };
            stdout.WriteLine($"attention {dtype.ToSafeTensorsString().ToLowerInvariant()}: {kernel} ({detail})");
        }
    }

    private static bool ReportCublas(TextWriter stdout, CudaContext context)
    {
        if (!CudaLibraries.TryLoad(CudaLibrarySearch.Cublas, out var why))
        {
            stdout.WriteLine($"cublas    unavailable: {why}");
            return false;
        }
        using var blas = new CublasHandle(context);
        int v = blas.Version;
        stdout.WriteLine($"cublas    {v / 10000}.{v % 10000 / 100}.{v % 100}  ({CudaLibraries.LoadedFrom(CudaLibrarySearch.Cublas)})");
        return true;
    }
}
