using Rose.Cuda;
using Rose.Pruning.Cpu;

namespace Rose.Pruning;

/// <summary>Picks the pruning backend for a --device choice.</summary>
public static class BackendFactory
{
    public static IReadOnlyList<string> Devices { get; } = ["auto", "cpu", "cuda", "cuda:N"];

    /// <param name="device">auto (CUDA device 0 when a device and the CUDA libraries work, else CPU), cpu,
    /// cuda (device 0) or cuda:N (device N as the driver numbers them, after CUDA_VISIBLE_DEVICES).</param>
    /// <param name="notice">Receives one line when auto falls back to the CPU, naming why.</param>
    /// <exception cref="RoseException">Unknown device, or cuda requested but unusable.</exception>
    public static IPruningBackend Create(string device, Action<string>? notice = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        string name = device.Trim().ToLowerInvariant();
        if (name.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!int.TryParse(name.AsSpan(5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int ordinal))
                throw new RoseException($"--device '{device}': the GPU after cuda: must be a device number such as cuda:1");
            if (CudaBackend.TryCreate(ordinal, out var numbered, out var failure))
                return numbered!;
            throw new RoseException($"--device {name}: the CUDA backend is unusable: {failure}");
        }
        switch (name)
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
