using Rose.Native;
using Rose.Native.Interop;

namespace Rose.Cuda;

/// <summary>A GPU's nominal peak rates, from its attributes (SM count, boost clock, memory clock
/// and bus width) and the dense per-SM, per-clock rates of its architecture, so achieved
/// throughput can be read as a fraction of what the device could do.</summary>
/// <param name="TensorTflops16">Dense BF16/FP16 tensor-core TFLOP/s with fp32 accumulation (null
/// for an architecture this table does not know).</param>
/// <param name="Fp32Tflops">Non-tensor FP32 TFLOP/s (FMA = 2 flop).</param>
/// <param name="MemoryGbps">Device-memory GB/s (double data rate × bus width).</param>
public sealed record DevicePeak(string Name, string Architecture, int Multiprocessors, double ClockMhz,
    double? TensorTflops16, double Fp32Tflops, double MemoryGbps)
{
    public static DevicePeak Of(CudaContext context) => FromAttributes(context.Name, context.ComputeCapabilityMajor,
        context.ComputeCapabilityMinor, context.MultiprocessorCount, context.Attribute(CuDriver.CU_DEVICE_ATTRIBUTE_CLOCK_RATE),
        context.Attribute(CuDriver.CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE), context.Attribute(CuDriver.CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH));

    /// <param name="clockKhz">Boost clock (kHz), as the driver reports it.</param>
    /// <param name="memoryClockKhz">Memory clock (kHz).</param>
    /// <param name="busWidthBits">Memory bus width (bits).</param>
    public static DevicePeak FromAttributes(string name, int major, int minor, int multiprocessors, int clockKhz,
        int memoryClockKhz, int busWidthBits)
    {
        double hz = clockKhz * 1e3;
        double? tensor = TensorFlopPerClock(major, minor) is { } t ? multiprocessors * hz * t / 1e12 : null;
        double fp32 = multiprocessors * hz * Fp32FlopPerClock(major, minor) / 1e12;
        double memory = 2.0 * memoryClockKhz * 1e3 * busWidthBits / 8 / 1e9;
        return new DevicePeak(name, $"sm_{major}{minor}", multiprocessors, clockKhz / 1e3, tensor, fp32, memory);
    }

    /// <summary>Dense 16-bit tensor flop per SM per clock with fp32 accumulation (data-center parts:
    /// A100 2048, L40/A40 1024, H100/H200 4096, B200 8192).</summary>
    public static int? TensorFlopPerClock(int major, int minor) => (major, minor) switch
    {
        (8, 0) => 2048,
        (8, 6) or (8, 7) or (8, 9) => 1024,
        (9, 0) => 4096,
        (10, _) => 8192,
        _ => null,
    };

    /// <summary>FP32 flop per SM per clock: 64 FMA units on sm_80, 128 on later architectures.</summary>
    public static int Fp32FlopPerClock(int major, int minor) => (major, minor) == (8, 0) || major < 8 ? 128 : 256;

    /// <summary>"45% of 1070" style fraction of a peak, or null without a peak.</summary>
    public static double? Percent(double achieved, double? peak) => peak is > 0 ? 100 * achieved / peak.Value : null;
}
