using Rose.Native;

namespace Rose.Cuda;

/// <summary>The kernel modules of the CUDA backend, compiled by NVRTC for the context's device
/// (disk-cached) and loaded once. Every file is compiled up front so that a broken toolchain shows
/// when the backend is created, not halfway through a model.</summary>
internal sealed class CudaKernels : IDisposable
{
    /// <summary>The kernel files the backend launches from.</summary>
    public static readonly IReadOnlyList<string> Files =
        ["hessian.cu", "cholesky.cu", "scores.cu", "permute.cu", "obs.cu", "masks.cu", "grid_select.cu", "convert.cu"];

    private readonly Dictionary<string, CudaModule> _modules = new(StringComparer.Ordinal);

    public CudaKernels(CudaContext context, KernelCompiler compiler)
    {
        var modules = compiler.LoadModules(context, Files);
        for (int i = 0; i < Files.Count; i++) _modules[Files[i]] = modules[i];
    }

    public CudaKernel Get(string file, string name) =>
        _modules.TryGetValue(file, out var module)
            ? module.GetKernel(name)
            : throw new ArgumentException($"Kernel file {file} is not loaded by the CUDA backend.");

    public void Dispose()
    {
        foreach (var module in _modules.Values) module.Dispose();
        _modules.Clear();
    }
}
