using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Rose.Cuda;

/// <summary>
/// Compiled kernel images on disk, keyed by a hash of everything that affects the output.
/// Each entry carries a checksum, so a truncated or corrupt file reads as a miss and is rebuilt.
/// Failing to write is not an error: the cache only saves compile time.
/// </summary>
public sealed class KernelCache
{
    private static readonly byte[] Magic = "ROSEKC01"u8.ToArray();
    private const int HeaderSize = 8 + 4 + 8 + 32;

    public KernelCache(string directory)
    {
        Directory = directory;
    }

    public string Directory { get; }

    /// <summary>$XDG_CACHE_HOME/rose/kernels, else ~/.cache/rose/kernels.</summary>
    public static string DefaultDirectory
    {
        get
        {
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var root = !string.IsNullOrWhiteSpace(xdg) && Path.IsPathRooted(xdg)
                ? xdg
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(root, "rose", "kernels");
        }
    }

    public static KernelCache CreateDefault() => new(DefaultDirectory);

    /// <summary>
    /// SHA-256 (hex) of the source, every header, the options and the NVRTC version, each length-prefixed
    /// so that no two different inputs concatenate to the same bytes.
    /// </summary>
    public static string ComputeKey(string source, IReadOnlyList<KeyValuePair<string, string>> headers,
        IReadOnlyList<string> options, string nvrtcVersion)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string text)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(length, bytes.Length);
            hash.AppendData(length);
            hash.AppendData(bytes);
        }

        Add("rose-kernel-cache-v1");
        Add(nvrtcVersion);
        Add(string.Join('\n', options));
        Add(source);
        foreach (var (name, text) in headers)
        {
            Add(name);
            Add(text);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public string PathFor(string key) => Path.Combine(Directory, key + ".bin");

    /// <summary>Reads an entry; a missing, short or corrupt file is a miss (and a corrupt one is deleted).</summary>
    public bool TryRead(string key, out byte[] image, out bool isCubin)
    {
        image = [];
        isCubin = false;
        var path = PathFor(key);
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        if (!TryDecode(data, out image, out isCubin))
        {
            TryDelete(path);
            return false;
        }

        return true;
    }

    /// <summary>Writes an entry atomically (temp file in the same folder, then rename).</summary>
    public bool Write(string key, byte[] image, bool isCubin)
    {
        var path = PathFor(key);
        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            File.WriteAllBytes(temp, Encode(image, isCubin));
            File.Move(temp, path, overwrite: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            return false;
        }
    }

    private static byte[] Encode(byte[] image, bool isCubin)
    {
        var data = new byte[HeaderSize + image.Length];
        Magic.CopyTo(data, 0);
        data[8] = isCubin ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(12), image.Length);
        SHA256.HashData(image, data.AsSpan(20, 32));
        image.CopyTo(data, HeaderSize);
        return data;
    }

    private static bool TryDecode(byte[] data, out byte[] image, out bool isCubin)
    {
        image = [];
        isCubin = false;
        if (data.Length < HeaderSize || !data.AsSpan(0, 8).SequenceEqual(Magic) || data[8] > 1)
        {
            return false;
        }

        var length = BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(12));
        if (length != data.Length - HeaderSize)
        {
            return false;
        }

        var payload = data.AsSpan(HeaderSize);
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(payload, digest);
        if (!digest.SequenceEqual(data.AsSpan(20, 32)))
        {
            return false;
        }

        image = payload.ToArray();
        isCubin = data[8] == 1;
        return true;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
