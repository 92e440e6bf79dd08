using System.Text;
using Rose.Native.Interop;

namespace Rose.Native;

/// <summary>
/// A device's primary context (the one the runtime API, cuBLAS and cuSOLVER also use), retained
/// for this object's lifetime. Every wrapper makes it current on the calling thread before use,
/// so callers need not track which thread last touched the GPU.
/// </summary>
public sealed unsafe class CudaContext : IDisposable
{
    [ThreadStatic] private static IntPtr _currentOnThread;
    private bool _disposed;

    private CudaContext(int ordinal, int device, IntPtr handle)
    {
        Ordinal = ordinal;
        Device = device;
        Handle = handle;
        Name = QueryName(device);
        ComputeCapabilityMajor = Attribute(CuDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        ComputeCapabilityMinor = Attribute(CuDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        MultiprocessorCount = Attribute(CuDriver.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        MaxSharedMemoryPerBlockOptIn = Attribute(CuDriver.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
        nuint total;
        CuDriver.Check(CuDriver.cuDeviceTotalMem_v2(&total, device), nameof(CuDriver.cuDeviceTotalMem_v2));
        TotalMemory = (long)total;
    }

    /// <summary>Retains the primary context of device <paramref name="ordinal"/>.</summary>
    public static CudaContext Create(int ordinal = 0)
    {
        CudaDriver.EnsureInitialized();
        var count = CudaDriver.DeviceCount;
        if (ordinal < 0 || ordinal >= count)
        {
            throw new CudaException(CudaLibrarySearch.Driver, nameof(CuDriver.cuDeviceGet), 101, "CUDA_ERROR_INVALID_DEVICE",
                $"device ordinal {ordinal} requested but {count} device(s) present");
        }

        int device;
        CuDriver.Check(CuDriver.cuDeviceGet(&device, ordinal), nameof(CuDriver.cuDeviceGet));
        IntPtr handle;
        CuDriver.Check(CuDriver.cuDevicePrimaryCtxRetain(&handle, device), nameof(CuDriver.cuDevicePrimaryCtxRetain));
        try
        {
            var context = new CudaContext(ordinal, device, handle);
            context.MakeCurrent();
            return context;
        }
        catch
        {
            _ = CuDriver.cuDevicePrimaryCtxRelease_v2(device);
            throw;
        }
    }

    public int Ordinal { get; }
    public int Device { get; }
    public IntPtr Handle { get; }
    public string Name { get; }
    public int ComputeCapabilityMajor { get; }
    public int ComputeCapabilityMinor { get; }
    public (int Major, int Minor) ComputeCapability => (ComputeCapabilityMajor, ComputeCapabilityMinor);
    public int MultiprocessorCount { get; }
    public int MaxSharedMemoryPerBlockOptIn { get; }
    public long TotalMemory { get; }

    /// <summary>Binds this context to the calling thread (cheap when it already is).</summary>
    public void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_currentOnThread != Handle)
        {
            CuDriver.Check(CuDriver.cuCtxSetCurrent(Handle), nameof(CuDriver.cuCtxSetCurrent));
            _currentOnThread = Handle;
        }
    }

    public void Synchronize()
    {
        MakeCurrent();
        CuDriver.Check(CuDriver.cuCtxSynchronize(), nameof(CuDriver.cuCtxSynchronize));
    }

    /// <summary>Free and total device memory in bytes, as the driver sees them now.</summary>
    public (long Free, long Total) MemoryInfo()
    {
        MakeCurrent();
        nuint free, total;
        CuDriver.Check(CuDriver.cuMemGetInfo_v2(&free, &total), nameof(CuDriver.cuMemGetInfo_v2));
        return ((long)free, (long)total);
    }

    public int Attribute(int attribute)
    {
        int value;
        CuDriver.Check(CuDriver.cuDeviceGetAttribute(&value, attribute, Device), nameof(CuDriver.cuDeviceGetAttribute));
        return value;
    }

    public DeviceBuffer<T> Allocate<T>(long length) where T : unmanaged => new(this, length);

    public CudaStream CreateStream(bool nonBlocking = true) => new(this, nonBlocking);

    public CudaEvent CreateEvent(bool timing = true) => new(this, timing);

    public CudaModule LoadModule(ReadOnlySpan<byte> image) => new(this, image);

    public override string ToString() =>
        $"{Name} (device {Ordinal}, sm_{ComputeCapabilityMajor}{ComputeCapabilityMinor}, {TotalMemory / (1024 * 1024)} MiB)";

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_currentOnThread == Handle)
        {
            _currentOnThread = IntPtr.Zero;
        }

        CuDriver.Check(CuDriver.cuDevicePrimaryCtxRelease_v2(Device), nameof(CuDriver.cuDevicePrimaryCtxRelease_v2));
    }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private static string QueryName(int device)
    {
        var buffer = stackalloc byte[256];
        CuDriver.Check(CuDriver.cuDeviceGetName(buffer, 256, device), nameof(CuDriver.cuDeviceGetName));
        var length = new ReadOnlySpan<byte>(buffer, 256).IndexOf((byte)0);
        return Encoding.UTF8.GetString(buffer, length < 0 ? 256 : length);
    }
}
