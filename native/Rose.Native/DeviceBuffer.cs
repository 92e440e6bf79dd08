using System.Runtime.CompilerServices;
using Rose.Native.Interop;

namespace Rose.Native;

/// <summary>
/// A typed device allocation of <see cref="Length"/> elements. Not finalized: freeing needs the
/// owning context, so dispose it (the driver reclaims everything at process exit anyway).
/// </summary>
public sealed unsafe class DeviceBuffer<T> : IDisposable where T : unmanaged
{
    private CUdeviceptr _pointer;

    internal DeviceBuffer(CudaContext context, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Context = context;
        Length = length;
        context.MakeCurrent();
        ulong pointer = 0;
        // cuMemAlloc rejects zero bytes; a one-byte allocation keeps Pointer valid and unique.
        var bytes = Math.Max(SizeInBytes, 1);
        CuDriver.Check(CuDriver.cuMemAlloc_v2(&pointer, (nuint)bytes), nameof(CuDriver.cuMemAlloc_v2));
        _pointer = new CUdeviceptr(pointer);
    }

    public static DeviceBuffer<T> Allocate(CudaContext context, long length) => new(context, length);

    /// <summary>Allocates and uploads <paramref name="source"/>.</summary>
    public static DeviceBuffer<T> FromHost(CudaContext context, ReadOnlySpan<T> source)
    {
        var buffer = new DeviceBuffer<T>(context, source.Length);
        try
        {
            buffer.CopyFrom(source);
            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    public CudaContext Context { get; }
    public long Length { get; }
    public long SizeInBytes => Length * sizeof(T);

    public CUdeviceptr Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_pointer.IsNull, this);
            return _pointer;
        }
    }

    /// <summary>Address of element <paramref name="index"/> (index == Length is allowed: one past the end).</summary>
    public CUdeviceptr PointerAt(long index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(index, Length);
        return Pointer.AddBytes(index * sizeof(T));
    }

    public static implicit operator KernelArg(DeviceBuffer<T> buffer) => KernelArg.From(buffer.Pointer);

    public void CopyFrom(ReadOnlySpan<T> source, long offset = 0)
    {
        CheckRange(offset, source.Length);
        Context.MakeCurrent();
        fixed (T* p = source)
        {
            CuDriver.Check(CuDriver.cuMemcpyHtoD_v2(PointerAt(offset).Value, p, Bytes(source.Length)), nameof(CuDriver.cuMemcpyHtoD_v2));
        }
    }

    public void CopyTo(Span<T> destination, long offset = 0)
    {
        CheckRange(offset, destination.Length);
        Context.MakeCurrent();
        fixed (T* p = destination)
        {
            CuDriver.Check(CuDriver.cuMemcpyDtoH_v2(p, PointerAt(offset).Value, Bytes(destination.Length)), nameof(CuDriver.cuMemcpyDtoH_v2));
        }
    }

    public T[] ToArray()
    {
        var result = new T[Length];
        CopyTo(result);
        return result;
    }

    /// <summary>Copies all of <paramref name="source"/> (which must fit) into this buffer at element 0.</summary>
    public void CopyFrom(DeviceBuffer<T> source)
    {
        CheckRange(0, source.Length);
        Context.MakeCurrent();
        CuDriver.Check(CuDriver.cuMemcpyDtoD_v2(Pointer.Value, source.Pointer.Value, Bytes(source.Length)), nameof(CuDriver.cuMemcpyDtoD_v2));
    }

    /// <summary>Copies <paramref name="count"/> elements of another device buffer into this one.</summary>
    public void CopyFrom(DeviceBuffer<T> source, long sourceOffset, long destinationOffset, long count)
    {
        CheckRange(destinationOffset, count);
        source.CheckRange(sourceOffset, count);
        Context.MakeCurrent();
        CuDriver.Check(CuDriver.cuMemcpyDtoD_v2(PointerAt(destinationOffset).Value, source.PointerAt(sourceOffset).Value, Bytes(count)),
            nameof(CuDriver.cuMemcpyDtoD_v2));
    }

    /// <summary>Asynchronous upload; <paramref name="source"/> must stay pinned until the stream reaches the copy.</summary>
    public void CopyFromAsync(PinnedHostBuffer<T> source, CudaStream stream, long offset = 0) =>
        CopyFromAsync(source.Pointer, source.Length, stream, offset);

    /// <summary>Asynchronous download; read <paramref name="destination"/> only after synchronizing the stream.</summary>
    public void CopyToAsync(PinnedHostBuffer<T> destination, CudaStream stream, long offset = 0) =>
        CopyToAsync(destination.Pointer, destination.Length, stream, offset);

    /// <summary>Asynchronous upload from caller-pinned memory (pageable memory makes the copy synchronous).</summary>
    public void CopyFromAsync(T* source, long count, CudaStream? stream, long offset = 0)
    {
        CheckRange(offset, count);
        Context.MakeCurrent();
        CuDriver.Check(CuDriver.cuMemcpyHtoDAsync_v2(PointerAt(offset).Value, source, Bytes(count), CudaStream.HandleOf(stream)),
            nameof(CuDriver.cuMemcpyHtoDAsync_v2));
    }

    public void CopyToAsync(T* destination, long count, CudaStream? stream, long offset = 0)
    {
        CheckRange(offset, count);
        Context.MakeCurrent();
        CuDriver.Check(CuDriver.cuMemcpyDtoHAsync_v2(destination, PointerAt(offset).Value, Bytes(count), CudaStream.HandleOf(stream)),
            nameof(CuDriver.cuMemcpyDtoHAsync_v2));
    }

    public void CopyFromAsync(DeviceBuffer<T> source, CudaStream? stream) => CopyFromAsync(source.Pointer, source.Length, stream);

    /// <summary>Queues a copy of this buffer's first <paramref name="count"/> elements from device address
    /// <paramref name="source"/> (memory another buffer owns, viewed as elements of this type).</summary>
    public void CopyFromAsync(CUdeviceptr source, long count, CudaStream? stream)
    {
        CheckRange(0, count);
        Context.MakeCurrent();
        CuDriver.Check(CuDriver.cuMemcpyDtoDAsync_v2(Pointer.Value, source.Value, Bytes(count), CudaStream.HandleOf(stream)),
            nameof(CuDriver.cuMemcpyDtoDAsync_v2));
    }

    /// <summary>Queues a copy of this buffer's first <paramref name="count"/> elements to device address <paramref name="destination"/>.</summary>
    public void CopyToAsync(CUdeviceptr destination, long count, CudaStream? stream)
    {
        CheckRange(0, count);
        Context.MakeCurrent();
        CuDriver.Check(CuDriver.cuMemcpyDtoDAsync_v2(destination.Value, Pointer.Value, Bytes(count), CudaStream.HandleOf(stream)),
            nameof(CuDriver.cuMemcpyDtoDAsync_v2));
    }

    /// <summary>Sets every byte to zero.</summary>
    public void Clear()
    {
        Context.MakeCurrent();
        CuDriver.Check(CuDriver.cuMemsetD8_v2(Pointer.Value, 0, (nuint)SizeInBytes), nameof(CuDriver.cuMemsetD8_v2));
    }

    public void ClearAsync(CudaStream? stream)
    {
        Context.MakeCurrent();
        CuDriver.Check(CuDriver.cuMemsetD8Async(Pointer.Value, 0, (nuint)SizeInBytes, CudaStream.HandleOf(stream)), nameof(CuDriver.cuMemsetD8Async));
    }

    /// <summary>Fills a 4-byte element type with <paramref name="value"/> (e.g. 1.0f or -1).</summary>
    public void Fill(T value, CudaStream? stream = null)
    {
        if (sizeof(T) != 4)
        {
            throw new NotSupportedException($"Fill supports 4-byte element types only, not {typeof(T).Name}");
        }

        Context.MakeCurrent();
        var bits = Unsafe.As<T, uint>(ref value);
        if (stream is null)
        {
            CuDriver.Check(CuDriver.cuMemsetD32_v2(Pointer.Value, bits, (nuint)Length), nameof(CuDriver.cuMemsetD32_v2));
        }
        else
        {
            CuDriver.Check(CuDriver.cuMemsetD32Async(Pointer.Value, bits, (nuint)Length, stream.Handle), nameof(CuDriver.cuMemsetD32Async));
        }
    }

    public void Dispose()
    {
        if (_pointer.IsNull)
        {
            return;
        }

        var pointer = _pointer;
        _pointer = default;
        Context.MakeCurrent();
        CuDriver.Check(CuDriver.cuMemFree_v2(pointer.Value), nameof(CuDriver.cuMemFree_v2));
    }

    private static nuint Bytes(long count) => (nuint)(count * sizeof(T));

    private void CheckRange(long offset, long count)
    {
        if (offset < 0 || count < 0 || offset + count > Length)
        {
            throw new ArgumentOutOfRangeException(nameof(count),
                $"elements [{offset}, {offset + count}) do not fit a device buffer of {Length} {typeof(T).Name}");
        }
    }
}
