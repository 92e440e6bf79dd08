using Rose.Native.Interop;

namespace Rose.Native;

/// <summary>One-time driver initialisation; a failure is remembered so later callers skip quickly.</summary>
public static unsafe class CudaDriver
{
    private static readonly Lazy<(CudaException? Error, int Version)> State = new(Initialize);

    /// <summary>Loads libcuda and calls cuInit(0); throws <see cref="CudaException"/> when either fails.</summary>
    public static void EnsureInitialized()
    {
        if (State.Value.Error is { } error)
        {
            throw error;
        }
    }

    /// <summary>True when the driver loads and initialises; otherwise <paramref name="why"/> says why.</summary>
    public static bool TryInitialize(out string why)
    {
        var error = State.Value.Error;
        why = error?.Message ?? "";
        return error is null;
    }

    /// <summary>Driver API version as 1000*major + 10*minor (13000 for CUDA 13.0).</summary>
    public static int Version
    {
        get
        {
            EnsureInitialized();
            return State.Value.Version;
        }
    }

    public static int DeviceCount
    {
        get
        {
            EnsureInitialized();
            int count;
            CuDriver.Check(CuDriver.cuDeviceGetCount(&count), nameof(CuDriver.cuDeviceGetCount));
            return count;
        }
    }

    private static (CudaException?, int) Initialize()
    {
        if (!CudaLibraries.TryLoad(CudaLibrarySearch.Driver, out var why))
        {
            return (CudaException.LibraryMissing(CudaLibrarySearch.Driver, nameof(CuDriver.cuInit), why), 0);
        }

        try
        {
            var result = CuDriver.cuInit(0);
            if (result != 0)
            {
                return (CuDriver.Error(result, nameof(CuDriver.cuInit)), 0);
            }

            int version;
            CuDriver.Check(CuDriver.cuDriverGetVersion(&version), nameof(CuDriver.cuDriverGetVersion));
            return (null, version);
        }
        catch (CudaException e)
        {
            return (e, 0);
        }
        catch (EntryPointNotFoundException e)
        {
            return (CudaException.EntryPointMissing(CudaLibrarySearch.Driver, nameof(CuDriver.cuInit), e), 0);
        }
    }
}
