using Rose.Native.Interop;

namespace Rose.Native;

/// <summary>Fills a staging chunk with the bytes [offset, offset + chunk.Length) of an upload.</summary>
public delegate void StagingProducer(long offset, Span<byte> chunk);

/// <summary>Takes the bytes [offset, offset + chunk.Length) of a download out of a staging chunk.</summary>
public delegate void StagingConsumer(long offset, ReadOnlySpan<byte> chunk);

/// <summary>
/// Moves large arrays between pageable host memory and the device through two page-locked chunks:
/// the host fills (or drains) one chunk, by all cores, while the DMA engine moves the other. Pageable
/// copies are staged by the driver through small internal buffers at a fraction of the link's speed;
/// this is the difference for the device pipeline's hundreds of MB of weights per decoder layer.
/// Copies are queued on <see cref="Stream"/> (null: the legacy default stream) and complete before
/// a call returns, so callers keep synchronous semantics.
/// </summary>
public sealed unsafe class PinnedStaging : IDisposable
{
    private readonly PinnedHostBuffer<byte>[] _chunks;
    private readonly CudaEvent[] _done;
    private const int CopyPiece = 1 << 20;
    private bool _disposed;

    public PinnedStaging(CudaContext context, CudaStream? stream = null, int chunkBytes = 32 << 20)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkBytes, 64);
        Context = context;
        Stream = stream;
        // A multiple of 8 bytes, so no element of any dtype straddles two chunks.
        ChunkBytes = chunkBytes & ~7;
        _chunks = new PinnedHostBuffer<byte>[2];
        _done = new CudaEvent[2];
        try
        {
            for (int i = 0; i < 2; i++)
            {
                _chunks[i] = new PinnedHostBuffer<byte>(context, ChunkBytes);
                _done[i] = context.CreateEvent(timing: false);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public CudaContext Context { get; }
    public CudaStream? Stream { get; }
    public int ChunkBytes { get; }

    /// <summary>Uploads <paramref name="bytes"/> bytes that <paramref name="produce"/> writes chunk by chunk.</summary>
    public void Upload(long bytes, CUdeviceptr destination, StagingProducer produce)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        int chunks = (int)((bytes + ChunkBytes - 1) / ChunkBytes);
        try
        {
            for (int c = 0; c < chunks; c++)
            {
                int b = c & 1;
                long offset = (long)c * ChunkBytes;
                int n = (int)Math.Min(ChunkBytes, bytes - offset);
                // The DMA of chunk c − 2 read this buffer; it must be done before the buffer is refilled.
                if (c >= 2) _done[b].Synchronize();
                produce(offset, new Span<byte>(_chunks[b].Pointer, n));
                Context.MakeCurrent();
                CuDriver.Check(CuDriver.cuMemcpyHtoDAsync_v2(destination.AddBytes(offset).Value, _chunks[b].Pointer, (nuint)n,
                    CudaStream.HandleOf(Stream)), nameof(CuDriver.cuMemcpyHtoDAsync_v2));
                _done[b].Record(Stream);
            }
        }
        catch
        {
            DrainQuietly();
            throw;
        }
        for (int c = Math.Max(0, chunks - 2); c < chunks; c++) _done[c & 1].Synchronize();
    }

    public void Upload<T>(ReadOnlySpan<T> source, CUdeviceptr destination) where T : unmanaged
    {
        fixed (T* p = source)
        {
            byte* s = (byte*)p;
            Upload((long)source.Length * sizeof(T), destination, (offset, chunk) => Copy(new ReadOnlySpan<byte>(s + offset, chunk.Length), chunk));
        }
    }

    public void Download<T>(CUdeviceptr source, Span<T> destination) where T : unmanaged
    {
        fixed (T* p = destination)
        {
            byte* d = (byte*)p;
            Download(source, (long)destination.Length * sizeof(T), (offset, chunk) => Copy(chunk, new Span<byte>(d + offset, chunk.Length)));
        }
    }

    /// <summary>Downloads <paramref name="bytes"/> bytes, handing each chunk to <paramref name="consume"/>
    /// (by all cores, say, converting as it copies) while the DMA engine moves the next one.</summary>
    public void Download(CUdeviceptr source, long bytes, StagingConsumer consume)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        int chunks = (int)((bytes + ChunkBytes - 1) / ChunkBytes);
        try
        {
            for (int c = 0; c <= chunks; c++)
            {
                if (c < chunks)
                {
                    long offset = (long)c * ChunkBytes;
                    int n = (int)Math.Min(ChunkBytes, bytes - offset);
                    Context.MakeCurrent();
                    CuDriver.Check(CuDriver.cuMemcpyDtoHAsync_v2(_chunks[c & 1].Pointer, source.AddBytes(offset).Value, (nuint)n,
                        CudaStream.HandleOf(Stream)), nameof(CuDriver.cuMemcpyDtoHAsync_v2));
                    _done[c & 1].Record(Stream);
                }
                if (c > 0)
                {
                    // Drain chunk c − 1 while chunk c is in flight.
                    int b = (c - 1) & 1;
                    long offset = (long)(c - 1) * ChunkBytes;
                    int n = (int)Math.Min(ChunkBytes, bytes - offset);
                    _done[b].Synchronize();
                    consume(offset, new ReadOnlySpan<byte>(_chunks[b].Pointer, n));
                }
            }
        }
        catch
        {
            DrainQuietly();
            throw;
        }
    }

    /// <summary>memcpy split over cores in 1 MB pieces (one core cannot fill a PCIe 5 link).</summary>
    private static void Copy(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        int n = destination.Length;
        if (n <= 2 * CopyPiece)
        {
            source[..n].CopyTo(destination);
            return;
        }
        fixed (byte* src = source)
        fixed (byte* dst = destination)
        {
            byte* s = src, d = dst;
            Parallel.For(0, (n + CopyPiece - 1) / CopyPiece, i =>
            {
                long at = (long)i * CopyPiece;
                int m = (int)Math.Min(CopyPiece, n - at);
                Buffer.MemoryCopy(s + at, d + at, m, m);
            });
        }
    }

    /// <summary>After a failed transfer: chunk copies already queued may still be reading or writing
    /// the pinned chunks, which the next call refills and Dispose frees; wait for them, keeping the
    /// original exception.</summary>
    private void DrainQuietly()
    {
        foreach (var e in _done)
        {
            try
            {
                e.Synchronize();
            }
            catch (CudaException)
            {
                // A sticky device error is already reported by the exception being rethrown.
            }
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        // A copy still in flight (an upload that threw part-way) must not read freed pinned memory.
        foreach (var e in _done)
        {
            try { e?.Synchronize(); }
            catch (Exception ex) when (ex is CudaException or ObjectDisposedException) { /* a broken or closed context: only freeing is left */ }
        }
        foreach (var e in _done) e?.Dispose();
        foreach (var c in _chunks) c?.Dispose();
    }
}
