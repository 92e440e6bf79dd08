using System.Globalization;

namespace Rose;

/// <summary>Byte counts as people read them in messages: GiB for what a 7B run needs, MiB and KiB
/// for small runs, where "0.00 GiB needed, 0.00 GiB free" would say nothing.</summary>
public static class ByteSize
{
    public static string Format(long bytes)
    {
        double b = bytes;
        return Math.Abs(b) switch
        {
            >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{b / (1L << 30):F2} GiB"),
            >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{b / (1L << 20):F1} MiB"),
            >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{b / (1L << 10):F1} KiB"),
            _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
        };
    }
}
