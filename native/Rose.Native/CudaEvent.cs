using Rose.Native.Interop;

namespace Rose.Native;

/// <summary>A driver event, used to time GPU work between two records.</summary>
public sealed unsafe class CudaEvent : IDisposable
{
    private IntPtr _handle;

    internal CudaEvent(CudaContext context, bool timing)
    {
        Context = context;
        context.MakeCurrent();
        IntPtr handle;
        CuDriver.Check(CuDriver.cuEventCreate(&handle, timing ? CuDriver.CU_EVENT_DEFAULT : CuDriver.CU_EVENT_DISABLE_TIMING),
            nameof(CuDriver.cuEventCreate));
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

    public void Record(CudaStream? stream = null)
    {
        Context.MakeCurrent();
        CuDriver.Check(CuDriver.cuEventRecord(Handle, CudaStream.HandleOf(stream)), nameof(CuDriver.cuEventRecord));
    }

    public void Synchronize()
    {
        Context.MakeCurrent();
        CuDriver.Check(CuDriver.cuEventSynchronize(Handle), nameof(CuDriver.cuEventSynchronize));
    }

    /// <summary>Milliseconds between <paramref name="start"/>'s record and this event's; waits for this event.</summary>
    public float ElapsedMillisecondsSince(CudaEvent start)
    {
        Synchronize();
        float ms;
        CuDriver.Check(CuDriver.cuEventElapsedTime(&ms, start.Handle, Handle), nameof(CuDriver.cuEventElapsedTime));
        return ms;
    }

    public static float ElapsedMilliseconds(CudaEvent start, CudaEvent end) => end.ElapsedMillisecondsSince(start);

    public void Dispose()
    {
        if (_handle == IntPtr.Zero)
        {
            return;
        }

        Context.MakeCurrent();
        var handle = _handle;
        _handle = IntPtr.Zero;
        CuDriver.Check(CuDriver.cuEventDestroy_v2(handle), nameof(CuDriver.cuEventDestroy_v2));
    }
}
