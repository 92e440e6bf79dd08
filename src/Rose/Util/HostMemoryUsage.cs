namespace Rose;

/// <summary>This process's memory as Linux accounts it in /proc/self/status, in bytes: resident now and at its
/// peak, and the resident part split into anonymous memory (heaps, pinned buffers, the CUDA driver's own: what
/// a run needs) and mapped files (the memory-mapped checkpoint and libraries: page cache the kernel takes back
/// under pressure). Null where there is no such file (not Linux).</summary>
public readonly record struct HostMemoryUsage(long Resident, long PeakResident, long Anonymous, long MappedFiles)
{
    public static HostMemoryUsage? Read()
    {
        try
        {
            return Parse(File.ReadAllText("/proc/self/status"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The four fields of a /proc/[pid]/status text ("VmRSS:   123 kB"), or null when one is missing.</summary>
    internal static HostMemoryUsage? Parse(string status)
    {
        long? rss = null, hwm = null, anon = null, files = null;
        foreach (var line in status.Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon < 0) continue;
            var value = line[(colon + 1)..].Trim();
            if (!value.EndsWith(" kB", StringComparison.Ordinal) || !long.TryParse(value[..^3], out long kib)) continue;
            long bytes = kib * 1024;
            switch (line[..colon])
            {
                case "VmRSS": rss = bytes; break;
                case "VmHWM": hwm = bytes; break;
                case "RssAnon": anon = bytes; break;
                case "RssFile": files = bytes; break;
            }
        }
        return rss is { } r && hwm is { } h && anon is { } a && files is { } f ? new HostMemoryUsage(r, h, a, f) : null;
    }
}
