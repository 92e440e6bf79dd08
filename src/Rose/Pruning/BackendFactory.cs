using Rose.Cuda;
using Rose.Pruning.Cpu;

namespace Rose.Pruning;

/// <summary>Picks the pruning backend for a --device choice.</summary>
public static class BackendFactory
{
    public static IReadOnlyList<string> Devices { get; } = ["auto", "cpu", "cuda"];

    /// <param name="device">auto (CUDA when a device and the CUDA libraries work, else CPU), cpu or cuda.</param>
    /// <param name="notice">Receives one line when auto falls back to the CPU, naming why.</param>
    /// <exception cref="RoseException">Unknown device, or cuda requested but unusable.</exception>
    public static IPruningBackend Create(string device, Action<string>? notice = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        switch (device.Trim().ToLowerInvariant())
        {
            case "cpu":
                return new CpuBackend();
            case "cuda":
                if (CudaBackend.TryCreate(0, out var cuda, out var why))
                    return cuda!;
                throw new RoseException($"--device cuda: the CUDA backend is unusable: {why}");
            case "auto":
                if (CudaBackend.TryCreate(0, out var auto, out var reason))
                    return auto!;
                notice?.Invoke($"CUDA unavailable ({reason}); using the CPU backend");
                return new CpuBackend();
            default:
                throw new RoseException($"--device '{device}' is not one of {string.Join(", ", Devices)}");
        }
    }
}
