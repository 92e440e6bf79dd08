using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace Rose.SafeTensors;

/// <summary>Writes one safetensors file whose layout is fixed up front: the header goes out at
/// construction and each tensor's bytes are written at its offset later, in any order, so a
/// pipeline can stream tensors out as they are produced.</summary>
public sealed class SafeTensorsFileWriter : IDisposable
{
    /// <summary>Elements converted per write when the stored dtype differs from float32.</summary>
    // Large enough for ParallelConversion to split (a 7B layer's 200M values are written while the next
    // layer computes, and must not take longer than it), small enough to bound the buffer (32 MB).
    private const int ConversionChunk = 1 << 24;

    private readonly FileStream _stream;
    private readonly SafeFileHandle _handle;
    private readonly Dictionary<string, Slot> _slots;
    private readonly long _dataStart;
    private bool _completed;
    private bool _disposed;

    public string Path { get; }
    public IReadOnlyList<TensorInfo> Tensors { get; }
    public long FileLength { get; }

    private sealed class Slot(TensorInfo info)
    {
        public TensorInfo Info { get; } = info;
        public long BytesWritten;
    }

    public SafeTensorsFileWriter(string path, IReadOnlyList<TensorSpec> specs, IReadOnlyDictionary<string, string>? metadata = null)
        : this(path, specs, metadata, existing: false)
    {
    }

    /// <summary>Reopens a file an earlier writer laid out with the same <paramref name="specs"/>, without
    /// truncating it, to finish an interrupted run: the header on disk must equal the one these specs
    /// give, and the tensors in <paramref name="alreadyWritten"/> count as written (their bytes are kept).</summary>
    public static SafeTensorsFileWriter OpenExisting(string path, IReadOnlyList<TensorSpec> specs, IEnumerable<string> alreadyWritten,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(alreadyWritten);
        var writer = new SafeTensorsFileWriter(path, specs, metadata, existing: true);
        foreach (var name in alreadyWritten)
        {
            if (writer._slots.TryGetValue(name, out var slot)) slot.BytesWritten = slot.Info.ByteLength;
        }
        return writer;
    }

    private SafeTensorsFileWriter(string path, IReadOnlyList<TensorSpec> specs, IReadOnlyDictionary<string, string>? metadata, bool existing)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(specs);
        Path = System.IO.Path.GetFullPath(path);

        var infos = new TensorInfo[specs.Count];
        _slots = new Dictionary<string, Slot>(StringComparer.Ordinal);
        long offset = 0;
        for (int i = 0; i < specs.Count; i++)
        {
            var spec = specs[i];
            if (spec.Name == SafeTensorsHeader.MetadataKey)
                throw new ArgumentException($"'{SafeTensorsHeader.MetadataKey}' is reserved and cannot be a tensor name", nameof(specs));
            infos[i] = new TensorInfo(spec.Name, spec.DType, (long[])spec.Shape.Clone(), offset, offset + spec.ByteLength);
            if (!_slots.TryAdd(spec.Name, new Slot(infos[i])))
                throw new ArgumentException($"tensor '{spec.Name}' is listed twice for {Path}", nameof(specs));
            offset += spec.ByteLength;
        }
        Tensors = infos;

        // "format": "pt" is what transformers checks for before loading a file as PyTorch weights.
        var allMetadata = new Dictionary<string, string>(StringComparer.Ordinal) { ["format"] = "pt" };
        if (metadata is not null)
            foreach (var (key, value) in metadata) allMetadata[key] = value;
        var header = BuildHeader(infos, allMetadata);
        _dataStart = 8 + header.Length;
        FileLength = _dataStart + offset;

        try
        {
            _stream = new FileStream(Path, existing ? FileMode.Open : FileMode.Create, FileAccess.ReadWrite, FileShare.None, bufferSize: 1);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RoseException($"{Path}: cannot {(existing ? "reopen" : "create")} output file ({e.Message})", e);
        }
        _handle = _stream.SafeFileHandle;
        if (existing)
        {
            try
            {
                VerifyExistingLayout(header);
            }
            catch
            {
                _stream.Dispose();
                throw;
            }
            return;
        }
        try
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            RandomAccess.Write(_handle, prefix, 0);
            RandomAccess.Write(_handle, header, 8);
            // Fixing the length now makes every tensor's slot addressable and reserves the space.
            RandomAccess.SetLength(_handle, FileLength);
        }
        catch
        {
            _stream.Dispose();
            throw;
        }
    }

    /// <summary>Resuming into a file is only sound when every tensor sits where this plan puts it.</summary>
    private void VerifyExistingLayout(byte[] header)
    {
        long length = RandomAccess.GetLength(_handle);
        var onDisk = new byte[8 + header.Length];
        bool same = length == FileLength && RandomAccess.Read(_handle, onDisk, 0) == onDisk.Length
            && BinaryPrimitives.ReadUInt64LittleEndian(onDisk) == (ulong)header.Length
            && onDisk.AsSpan(8).SequenceEqual(header);
        if (!same)
            throw new RoseException($"{Path}: the existing file's layout differs from the planned one ({length} bytes, expected {FileLength}), so it cannot be resumed");
    }

    /// <summary>The JSON header, padded with spaces so the data region starts 8-byte aligned.</summary>
    private static byte[] BuildHeader(TensorInfo[] infos, IReadOnlyDictionary<string, string> metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        // Relaxed escaping keeps names such as "a+b" readable; the output is still plain valid JSON.
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (metadata.Count > 0)
            {
                json.WriteStartObject(SafeTensorsHeader.MetadataKey);
                foreach (var (key, value) in metadata) json.WriteString(key, value);
                json.WriteEndObject();
            }
            foreach (var t in infos)
            {
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.DType.ToSafeTensorsString());
                json.WriteStartArray("shape");
                foreach (var d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(t.Begin);
                json.WriteNumberValue(t.End);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    /// <summary>Writes the whole tensor; <paramref name="data"/> must be exactly its stored bytes.</summary>
    public void Write(string name, ReadOnlySpan<byte> data)
    {
        var slot = GetSlot(name);
        if (data.Length != slot.Info.ByteLength)
            throw new ArgumentException($"{FileNameOf()}: tensor '{name}' takes {slot.Info.ByteLength} bytes but {data.Length} were given", nameof(data));
        WriteRange(slot, 0, data);
    }

    /// <summary>Writes part of a tensor starting <paramref name="byteOffset"/> bytes into it, for
    /// tensors too large for one span. Ranges of one tensor must not overlap.</summary>
    public void Write(string name, long byteOffset, ReadOnlySpan<byte> data)
    {
        var slot = GetSlot(name);
        if (byteOffset < 0 || byteOffset > slot.Info.ByteLength - data.Length)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"{FileNameOf()}: range [{byteOffset}, {byteOffset + data.Length}) is outside tensor '{name}' of {slot.Info.ByteLength} bytes");
        WriteRange(slot, byteOffset, data);
    }

    /// <summary>Writes the whole tensor from float32 values, converting to its declared dtype
    /// (F16 round-to-nearest, BF16 round-to-nearest-even as torch does).</summary>
    public void WriteFloat32(string name, ReadOnlySpan<float> data)
    {
        var slot = GetSlot(name);
        if (data.Length != slot.Info.NumElements)
            throw new ArgumentException($"{FileNameOf()}: tensor '{name}' has {slot.Info.NumElements} elements but {data.Length} were given", nameof(data));
        WriteFloat32Range(slot, 0, data);
    }

    /// <summary>Writes float32 values into a tensor starting at element <paramref name="elementOffset"/>.</summary>
    public void WriteFloat32(string name, long elementOffset, ReadOnlySpan<float> data)
    {
        var slot = GetSlot(name);
        if (elementOffset < 0 || elementOffset > slot.Info.NumElements - data.Length)
            throw new ArgumentOutOfRangeException(nameof(elementOffset), $"{FileNameOf()}: elements [{elementOffset}, {elementOffset + data.Length}) are outside tensor '{name}' of {slot.Info.NumElements} elements");
        WriteFloat32Range(slot, elementOffset, data);
    }

    private void WriteFloat32Range(Slot slot, long elementOffset, ReadOnlySpan<float> data)
    {
        var dtype = slot.Info.DType;
        if (!dtype.IsFloatingPoint())
            throw new RoseException($"{FileNameOf()}: tensor '{slot.Info.Name}' is declared {dtype.ToSafeTensorsString()}, so it cannot be written from float32 values");
        int size = dtype.ElementSize();
        if (dtype == DType.F32)
        {
            WriteRange(slot, elementOffset * size, MemoryMarshal.AsBytes(data));
            return;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(data.Length, ConversionChunk) * size);
        try
        {
            for (int start = 0; start < data.Length; start += ConversionChunk)
            {
                int n = Math.Min(ConversionChunk, data.Length - start);
                var bytes = buffer.AsSpan(0, n * size);
                ParallelConversion.FromSingle(dtype, data.Slice(start, n), bytes);
                WriteRange(slot, (elementOffset + start) * size, bytes);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void WriteRange(Slot slot, long offsetInTensor, ReadOnlySpan<byte> data)
    {
        RandomAccess.Write(_handle, data, _dataStart + slot.Info.Begin + offsetInTensor);
        slot.BytesWritten += data.Length;
    }

    /// <summary>Checks every tensor was written in full and flushes the file to disk.</summary>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed) return;
        var missing = _slots.Values.Where(s => s.BytesWritten < s.Info.ByteLength).Select(s => s.Info.Name).ToArray();
        if (missing.Length > 0)
            throw new RoseException($"{Path}: {missing.Length} tensor(s) never written: {string.Join(", ", missing.Take(10))}{(missing.Length > 10 ? ", ..." : "")}");
        _stream.Flush(flushToDisk: true);
        _completed = true;
    }

    public bool Contains(string name) => _slots.ContainsKey(name);

    /// <summary>Forces what was written so far onto the disk, so a saved resume point survives a reboot.</summary>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _stream.Flush(flushToDisk: true);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stream.Dispose();
    }

    private Slot GetSlot(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed)
            throw new InvalidOperationException($"{Path} is already complete");
        return _slots.TryGetValue(name, out var slot)
            ? slot
            : throw new RoseException($"{Path}: tensor '{name}' is not in this file's layout");
    }

    private string FileNameOf() => System.IO.Path.GetFileName(Path);
}
