using System.Reflection;
using Rose.Pruning;
using Rose.Pruning.Cpu;

namespace Rose.Bench.Pruning;

/// <summary>Creates the backend a benchmark case names. The CUDA backend is reached through
/// <c>Rose.Pruning.BackendFactory</c> by reflection so this project builds whether or not that
/// factory is present in the Rose assembly yet.</summary>
public static class BenchBackends
{
    private const string FactoryTypeName = "Rose.Pruning.BackendFactory";

    private static readonly Lazy<string?> CudaProbe = new(ProbeCuda);

    /// <summary>The backend for <paramref name="device"/> ("cpu" or "cuda"), or null with
    /// <paramref name="reason"/> saying why it cannot be had.</summary>
    public static IPruningBackend? Create(string device, out string? reason)
    {
        reason = null;
        switch (device)
        {
            case "cpu":
                return new CpuBackend();
            case "cuda":
                return CreateThroughFactory(device, out reason);
            default:
                reason = $"unknown device '{device}'";
                return null;
        }
    }

    /// <summary>Why CUDA cannot be used in this process, or null when it can. Probed once (a
    /// backend is created and disposed) and cached.</summary>
    public static string? CudaUnavailableReason => CudaProbe.Value;

    private static string? ProbeCuda()
    {
        using var backend = Create("cuda", out var reason);
        return backend is null ? reason ?? "the factory returned no backend" : null;
    }

    private static IPruningBackend? CreateThroughFactory(string device, out string? reason)
    {
        var factory = typeof(IPruningBackend).Assembly.GetType(FactoryTypeName, throwOnError: false);
        if (factory is null)
        {
            reason = $"{FactoryTypeName} is not in {typeof(IPruningBackend).Assembly.GetName().Name} (no CUDA backend built)";
            return null;
        }
        var create = factory.GetMethod("Create", BindingFlags.Public | BindingFlags.Static,
            [typeof(string), typeof(Action<string>)]);
        if (create is null)
        {
            reason = $"{FactoryTypeName}.Create(string, Action<string>) was not found";
            return null;
        }
        try
        {
            var backend = create.Invoke(null, [device, null]) as IPruningBackend;
            reason = backend is null ? $"{FactoryTypeName}.Create returned no backend" : null;
            return backend;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            // RoseException carries the one-line cause (no device, missing libraries, ...).
            reason = e.InnerException.Message;
            return null;
        }
    }
}
