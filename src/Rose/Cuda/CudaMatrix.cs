using Rose.Native;
using Rose.Pruning;

namespace Rose.Cuda;

/// <summary>A <see cref="BackendMatrix"/> in device memory: row-major, leading dimension = Cols.</summary>
internal sealed class CudaMatrix : BackendMatrix
{
    private DeviceBuffer<float>? _buffer;

    public CudaMatrix(DeviceBuffer<float> buffer, int rows, int cols) : base(rows, cols)
    {
        if (buffer.Length != (long)rows * cols)
            throw new ArgumentException($"Device buffer holds {buffer.Length} floats, a {rows}×{cols} matrix needs {(long)rows * cols}.");
        _buffer = buffer;
    }

    public DeviceBuffer<float> Buffer => _buffer ?? throw new ObjectDisposedException(nameof(CudaMatrix));

    public CUdeviceptr Pointer => Buffer.Pointer;

    /// <summary>Address of element [row, col].</summary>
    public CUdeviceptr At(int row, int col) => Buffer.PointerAt((long)row * Cols + col);

    protected override void Dispose(bool disposing)
    {
        _buffer?.Dispose();
        _buffer = null;
    }
}

/// <summary>A <see cref="BackendVector"/> in device memory.</summary>
internal sealed class CudaVector : BackendVector
{
    private DeviceBuffer<float>? _buffer;

    public CudaVector(DeviceBuffer<float> buffer) : base(checked((int)buffer.Length)) => _buffer = buffer;

    public DeviceBuffer<float> Buffer => _buffer ?? throw new ObjectDisposedException(nameof(CudaVector));

    public CUdeviceptr Pointer => Buffer.Pointer;

    protected override void Dispose(bool disposing)
    {
        _buffer?.Dispose();
        _buffer = null;
    }
}

/// <summary>A grow-only device scratch buffer reused across calls (a free synchronizes the device,
/// so scratch is not freed per call).</summary>
internal sealed class DeviceScratch<T> : IDisposable where T : unmanaged
{
    private readonly CudaContext _context;
    private readonly CudaStream _stream;
    private DeviceBuffer<T>? _buffer;

    public DeviceScratch(CudaContext context, CudaStream stream)
    {
        _context = context;
        _stream = stream;
    }

    /// <summary>A buffer of at least <paramref name="length"/> elements (contents undefined).</summary>
    public DeviceBuffer<T> Get(long length)
    {
        if (_buffer is null || _buffer.Length < length)
        {
            // Queued kernels may still read the old buffer.
            if (_buffer is not null) _stream.Synchronize();
            _buffer?.Dispose();
            _buffer = null;
            _buffer = _context.Allocate<T>(Math.Max(length, 1));
        }
        return _buffer;
    }

    public void Dispose()
    {
        _buffer?.Dispose();
        _buffer = null;
    }
}
