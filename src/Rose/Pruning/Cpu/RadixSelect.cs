namespace Rose.Pruning.Cpu;

/// <summary>ascending-sorted(values)[k] over all cores, for the thresholds of whole matrices and OBS blocks (1.4M
/// values per block of a 7B MLP matrix, one block after another): an exact radix select on order keys, the
/// CUDA backend's method. Three passes of 11, 11 and 10 bits each histogram, per core, the keys that still
/// match the digits chosen so far; the bin holding rank k gives the next digit. The value found is the one a
/// sort would place at k: −0 and +0 are one value (returned as +0), NaN orders after +∞.</summary>
internal static class RadixSelect
{
    /// <summary>Below this many values one core's quickselect is faster than three parallel passes.</summary>
    internal const int ParallelFrom = 1 << 16;

    private const int Chunk = 1 << 16;
    private static readonly (int Shift, int Bits)[] Digits = [(21, 11), (10, 11), (0, 10)];

    /// <param name="scratch">The values; every caller passes a copy of its own, which a select below
    /// <see cref="ParallelFrom"/> values reorders in place rather than copying it again.</param>
    public static float KthSmallest(Span<float> scratch, long k)
    {
        if ((ulong)k >= (ulong)scratch.Length) throw new ArgumentOutOfRangeException(nameof(k));
        if (scratch.Length < ParallelFrom) return Selection.KthSmallest(scratch, (int)k);
        return FromKey(SelectKey(scratch, k));
    }

    /// <summary>The unsigned order of the key is the float order (−0 folded onto +0). Every NaN, whatever its sign
    /// bit (x86 computes negative ones), takes the largest key, as the GPU's positive NaNs order last there.</summary>
    internal static uint Key(float f)
    {
        if (float.IsNaN(f)) return uint.MaxValue;
        uint u = BitConverter.SingleToUInt32Bits(f);
        if (u == 0x8000_0000u) u = 0;
        return (u & 0x8000_0000u) != 0 ? ~u : u | 0x8000_0000u;
    }

    private static float FromKey(uint key) =>
        BitConverter.UInt32BitsToSingle((key & 0x8000_0000u) != 0 ? key & 0x7FFF_FFFFu : ~key);

    private static unsafe uint SelectKey(ReadOnlySpan<float> values, long k)
    {
        uint prefix = 0, prefixMask = 0;
        long rank = k;
        int n = values.Length;
        fixed (float* p = values)
        {
            float* v = p;
            foreach (var (shift, bits) in Digits)
            {
                int bins = 1 << bits;
                uint digitMask = (uint)(bins - 1);
                var hist = new long[bins];
                uint matchPrefix = prefix, matchMask = prefixMask;
                Parallel.For(0, (n + Chunk - 1) / Chunk, () => new long[bins], (c, _, local) =>
                {
                    int start = c * Chunk, end = Math.Min(n, start + Chunk);
                    for (int i = start; i < end; i++)
                    {
                        uint key = Key(v[i]);
                        if ((key & matchMask) == matchPrefix) local[(key >> shift) & digitMask]++;
                    }
                    return local;
                }, local =>
                {
                    lock (hist)
                        for (int b = 0; b < bins; b++) hist[b] += local[b];
                });
                int digit = 0;
                while (rank >= hist[digit])
                {
                    rank -= hist[digit];
                    digit++;
                }
                prefix |= (uint)digit << shift;
                prefixMask |= digitMask << shift;
            }
        }
        return prefix;
    }
}
