using Rose.Native.Interop;

namespace Rose.Native;

/// <summary>Page-locked host memory (cuMemAllocHost): the source/target of truly asynchronous copies.</summary>
public sealed unsafe class PinnedHostBuffer<T> : IDisposable where T : unmanaged
{
    private T* _pointer;

    public PinnedHostBuffer(CudaContext context, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Context = context;
        Length = length;
        context.MakeCurrent();
        void* p;
        CuDriver.Check(CuDriver.cuMemAllocHost_v2(&p, (nuint)Math.Max(length * sizeof(T), 1)), nameof(CuDriver.cuMemAllocHost_v2));
        _pointer = (T*)p;
    }

    public CudaContext Context { get; }
    public long Length { get; }

    public T* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_pointer == null, this);
            return _pointer;
        }
    }

    /// <summary>The whole buffer as a span (at most int.MaxValue elements; slice larger ones with <see cref="Pointer"/>).</summary>
    public Span<T> Span => new(Pointer, checked((int)Length));

    public void Dispose()
    {
        if (_pointer == null)
        {
            return;
        }

        var p = _pointer;
        _pointer = null;
        Context.MakeCurrent();
        CuDriver.Check(CuDriver.cuMemFreeHost(p), nameof(CuDriver.cuMemFreeHost));
    }
}
