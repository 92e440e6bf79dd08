using System.IO.Compression;
using System.Text;

namespace Rose.Data;

/// <summary>Opens a text corpus file, transparently decompressing gzip. Gzip is recognised by
/// its magic bytes as well as by extension, since downloaded shards are often misnamed.</summary>
internal static class CorpusFile
{
    public static Stream OpenDecompressed(string path)
    {
        Stream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RoseException($"{path}: cannot open corpus file: {e.Message}", e);
        }
        Span<byte> magic = stackalloc byte[2];
        int got = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        file.Position = 0;
        bool gzip = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        if (!gzip && path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
        {
            file.Dispose();
            throw new RoseException($"{path}: named .gz but is not gzip data (no 1f 8b header)");
        }
        return gzip ? new GZipStream(file, CompressionMode.Decompress) : file;
    }

    public static string ReadAllText(string path)
    {
        using var stream = OpenDecompressed(path);
        using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        try
        {
            return reader.ReadToEnd();
        }
        catch (InvalidDataException e)
        {
            throw new RoseException($"{path}: corrupt gzip data: {e.Message}", e);
        }
    }

    public static byte[] ReadAllBytes(string path)
    {
        using var stream = OpenDecompressed(path);
        using var buffer = new MemoryStream();
        try
        {
            stream.CopyTo(buffer);
        }
        catch (InvalidDataException e)
        {
            throw new RoseException($"{path}: corrupt gzip data: {e.Message}", e);
        }
        return buffer.ToArray();
    }
}
