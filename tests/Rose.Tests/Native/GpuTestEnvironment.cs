using NUnit.Framework;
using Rose.Native;

namespace Rose.Tests.Native;

/// <summary>
/// Skips (or, where required, fails) tests that need NVRTC or a CUDA device, always with the
/// reason. Share it: every kernel test starts with RequireGpu() or RequireNvrtc().
/// </summary>
public static class GpuTestEnvironment
{
    private static readonly Lazy<(CudaContext? Context, string Why)> SharedContext = new(CreateContext);

    /// <summary>True when ROSE_REQUIRE_NVRTC=1: a missing NVRTC then fails tests instead of skipping them.</summary>
    public static bool NvrtcRequired => Environment.GetEnvironmentVariable("ROSE_REQUIRE_NVRTC") == "1";

    /// <summary>Ignores the test when libnvrtc cannot be loaded (fails it when NVRTC is required).</summary>
    public static void RequireNvrtc()
    {
        if (Nvrtc.TryLoad(out var why))
        {
            return;
        }

        if (NvrtcRequired)
        {
            Assert.Fail($"libnvrtc not found but ROSE_REQUIRE_NVRTC=1: {why}");
        }

        Assert.Ignore($"libnvrtc not found: {why}");
    }

    /// <summary>
    /// A context on device 0, shared by all tests of the run (creating a primary context is slow,
    /// and the driver frees it at exit). Ignores the test when there is no usable device.
    /// </summary>
    public static CudaContext RequireGpu()
    {
        var (context, why) = SharedContext.Value;
        if (context is null)
        {
            Assert.Ignore($"no CUDA device: {why}");
        }

        context!.MakeCurrent();
        return context;
    }

    /// <summary>The name the CPU emulator of the CUDA libraries (tests/CudaEmulator) gives its device.</summary>
    public const string EmulatorDeviceName = "Rose CPU emulator";

    /// <summary>True when the device is the CPU emulator's: kernels run as fibers on the CPU, so
    /// semantics are checked but speed and true parallelism are not.</summary>
    public static bool OnEmulator => SharedContext.Value.Context?.Name == EmulatorDeviceName;

    /// <summary>The emulator's context, for a test of what only the CPU emulator has (its checks, its census);
    /// elsewhere the test is ignored with <paramref name="onAGpu"/>, which says what stands in for it there.</summary>
    public static CudaContext RequireEmulator(string onAGpu)
    {
        var context = RequireGpu();
        if (!OnEmulator) Assert.Ignore(onAGpu);
        return context;
    }

    /// <summary>Ignores a test whose work is too large to emulate in a test run (the reason says what
    /// covers the same code on the emulator); on a real GPU it runs.</summary>
    public static void SkipOnEmulator(string why)
    {
        if (OnEmulator)
        {
            Assert.Ignore($"too slow on the CPU emulator: {why}");
        }
    }

    /// <summary>Ignores the test when the named CUDA library (e.g. "cublas") is not loadable.</summary>
    public static void RequireLibrary(string logicalName)
    {
        if (!CudaLibraries.TryLoad(logicalName, out var why))
        {
            Assert.Ignore($"lib{logicalName} not found: {why}");
        }
    }

    private static (CudaContext?, string) CreateContext()
    {
        if (!CudaDriver.TryInitialize(out var why))
        {
            return (null, why);
        }

        try
        {
            if (CudaDriver.DeviceCount == 0)
            {
                return (null, "the driver reports 0 devices");
            }

            return (CudaContext.Create(0), "");
        }
        catch (CudaException e)
        {
            return (null, e.Message);
        }
    }
}
