using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace Rose.SafeTensors;

/// <summary>A read-only, memory-mapped safetensors file. Tensor bytes are served straight from
/// the mapping (zero copy); the typed readers convert into caller memory.</summary>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    /// <summary>Elements converted per step, so huge tensors never need a span longer than int.</summary>
    private const int ConversionChunk = 1 << 20;

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;
    private readonly long _dataStart;
    private readonly Dictionary<string, TensorInfo> _byName;
    private bool _disposed;

    public string Path { get; }
    public string FileName { get; }
    public long FileLength { get; }
    public long DataOffset => _dataStart;
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>Tensors in the order their bytes appear in the file.</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    private SafeTensorsFile(string path, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* basePtr,
        long fileLength, long dataStart, SafeTensorsHeader header)
    {
        Path = path;
        FileName = System.IO.Path.GetFileName(path);
        _map = map;
        _view = view;
        _base = basePtr;
        FileLength = fileLength;
        _dataStart = dataStart;
        Metadata = header.Metadata;
        Tensors = header.Tensors;
        _byName = header.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public static SafeTensorsFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var fullPath = System.IO.Path.GetFullPath(path);
        var name = System.IO.Path.GetFileName(fullPath);
        if (!File.Exists(fullPath))
            throw new RoseException($"{fullPath}: safetensors file not found");

        FileStream stream;
        try
        {
            stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RoseException($"{fullPath}: cannot open safetensors file ({e.Message})", e);
        }

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        bool pointerAcquired = false;
        try
        {
            long length = stream.Length;
            if (length < 8)
                throw new RoseException($"{name}: file is {length} bytes, shorter than the 8-byte header length prefix (not a safetensors file)");

            map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* basePtr = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
            pointerAcquired = true;
            basePtr += view.PointerOffset;

            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(basePtr, 8));
            long n = SafeTensorsHeader.ValidatePrefix(headerLength, length, name);
            long dataStart = 8 + n;
            var header = SafeTensorsHeader.Parse(new ReadOnlySpan<byte>(basePtr + 8, (int)n), length - dataStart, name);
            return new SafeTensorsFile(fullPath, map, view, basePtr, length, dataStart, header);
        }
        catch
        {
            if (pointerAcquired) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => _byName.ContainsKey(name);

    public TensorInfo GetInfo(string name) =>
        _byName.TryGetValue(name, out var info)
            ? info
            : throw new RoseException($"{FileName}: no tensor named '{name}'");

    /// <summary>Pointer to the first byte of the tensor inside the mapping; valid until Dispose.</summary>
    public byte* GetPointer(string name) => DataPointer(GetInfo(name));

    /// <summary>The tensor's bytes, zero copy. Tensors of 2 GiB or more need the ranged overload.</summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var info = GetInfo(name);
        if (info.ByteLength > int.MaxValue)
            throw new RoseException($"{FileName}: tensor '{name}' is {info.ByteLength} bytes, too large for one span; read it in ranges with GetBytes(name, offset, count)");
        return new ReadOnlySpan<byte>(DataPointer(info), (int)info.ByteLength);
    }

    /// <summary><paramref name="count"/> bytes of the tensor starting <paramref name="offset"/> bytes into it.</summary>
    public ReadOnlySpan<byte> GetBytes(string name, long offset, int count)
    {
        var info = GetInfo(name);
        if (offset < 0 || count < 0 || offset > info.ByteLength - count)
            throw new ArgumentOutOfRangeException(nameof(offset), $"range [{offset}, {offset + count}) is outside tensor '{name}' of {info.ByteLength} bytes in {FileName}");
        return new ReadOnlySpan<byte>(DataPointer(info) + offset, count);
    }

    /// <summary>Reads a floating-point tensor (F32, F16, BF16 or F64) as float32.</summary>
    public float[] ReadFloat32(string name)
    {
        var info = RequireFloat(name);
        var result = new float[CheckedArrayLength(info)];
        ConvertToSingle(info, result);
        return result;
    }

    public void ReadFloat32(string name, Span<float> destination)
    {
        var info = RequireFloat(name);
        if (destination.Length != info.NumElements)
            throw new ArgumentException($"{FileName}: tensor '{name}' has {info.NumElements} elements but the destination holds {destination.Length}", nameof(destination));
        ConvertToSingle(info, destination);
    }

    public long[] ReadInt64(string name)
    {
        var info = Require(name, "ReadInt64", DType.I64);
        return MemoryMarshal.Cast<byte, long>(Whole(info)).ToArray();
    }

    public int[] ReadInt32(string name)
    {
        var info = Require(name, "ReadInt32", DType.I32);
        return MemoryMarshal.Cast<byte, int>(Whole(info)).ToArray();
    }

    /// <summary>Raw bytes of a one-byte tensor (U8, BOOL or I8).</summary>
    public byte[] ReadBytes(string name) => Whole(Require(name, "ReadBytes", DType.U8, DType.Bool, DType.I8)).ToArray();

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view?.SafeMemoryMappedViewHandle.ReleasePointer();
        _view?.Dispose();
        _map?.Dispose();
    }

    private byte* DataPointer(TensorInfo info)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _base + _dataStart + info.Begin;
    }

    private void ConvertToSingle(TensorInfo info, Span<float> destination)
    {
        byte* src = DataPointer(info);
        int size = info.DType.ElementSize();
        int chunks = (destination.Length + ConversionChunk - 1) / ConversionChunk;
        int total = destination.Length;
        fixed (float* dst = destination)
        {
            float* dstPtr = dst;
            // Conversion is memory bound; a few threads help only once a tensor spans several chunks.
            if (chunks >= 4)
                Parallel.For(0, chunks, c => ConvertChunk(info.DType, src, dstPtr, total, size, c));
            else
                for (int c = 0; c < chunks; c++) ConvertChunk(info.DType, src, dstPtr, total, size, c);
        }
    }

    private static void ConvertChunk(DType dtype, byte* src, float* dst, int total, int size, int chunk)
    {
        int start = chunk * ConversionChunk;
        int n = Math.Min(ConversionChunk, total - start);
        FloatConversion.ToSingle(dtype, new ReadOnlySpan<byte>(src + (long)start * size, n * size), new Span<float>(dst + start, n));
    }

    private ReadOnlySpan<byte> Whole(TensorInfo info)
    {
        CheckedArrayLength(info);
        return new ReadOnlySpan<byte>(DataPointer(info), (int)info.ByteLength);
    }

    private int CheckedArrayLength(TensorInfo info)
    {
        if (info.ByteLength > int.MaxValue || info.NumElements > Array.MaxLength)
            throw new RoseException($"{FileName}: tensor '{info.Name}' has {info.NumElements} elements, too many for one array; read it in ranges");
        return (int)info.NumElements;
    }

    private TensorInfo RequireFloat(string name)
    {
        var info = GetInfo(name);
        if (!info.DType.IsFloatingPoint())
            throw new RoseException($"{FileName}: tensor '{name}' is {info.DType.ToSafeTensorsString()}, but ReadFloat32 needs F32, F16, BF16 or F64");
        return info;
    }

    private TensorInfo Require(string name, string reader, params DType[] accepted)
    {
        var info = GetInfo(name);
        if (Array.IndexOf(accepted, info.DType) < 0)
            throw new RoseException($"{FileName}: tensor '{name}' is {info.DType.ToSafeTensorsString()}, but {reader} needs {string.Join(" or ", accepted.Select(d => d.ToSafeTensorsString()))}");
        return info;
    }
}
