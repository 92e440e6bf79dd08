using Rose.Native.Interop;

namespace Rose.Native;

/// <summary>A driver stream. Pass null where a stream is optional to use the legacy default stream.</summary>
public sealed unsafe class CudaStream : IDisposable
{
    private IntPtr _handle;

    internal CudaStream(CudaContext context, bool nonBlocking)
    {
        Context = context;
        context.MakeCurrent();
        IntPtr handle;
        CuDriver.Check(CuDriver.cuStreamCreate(&handle, nonBlocking ? CuDriver.CU_STREAM_NON_BLOCKING : 0), nameof(CuDriver.cuStreamCreate));
        _handle = handle;
    }

    public CudaContext Context { get; }

    public IntPtr Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle == IntPtr.Zero, this);
            return _handle;
        }
    }

    public void Synchronize()
    {
        Context.MakeCurrent();
        CuDriver.Check(CuDriver.cuStreamSynchronize(Handle), nameof(CuDriver.cuStreamSynchronize));
    }

    internal static IntPtr HandleOf(CudaStream? stream) => stream?.Handle ?? IntPtr.Zero;

    public void Dispose()
    {
        if (_handle == IntPtr.Zero)
        {
            return;
        }

        Context.MakeCurrent();
        var handle = _handle;
        _handle = IntPtr.Zero;
        CuDriver.Check(CuDriver.cuStreamDestroy_v2(handle), nameof(CuDriver.cuStreamDestroy_v2));
    }
}
