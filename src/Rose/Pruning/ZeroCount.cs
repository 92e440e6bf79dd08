using System.Numerics;
using System.Runtime.Intrinsics;

namespace Rose.Pruning;

/// <summary>Counts exact zeros (±0) of a weight matrix, vectorized and over all cores: the report's
/// sparsity of every pruned matrix, 200M values per 7B decoder layer.</summary>
public static unsafe class ZeroCount
{
    private const int Chunk = 1 << 20;

    public static long Of(ReadOnlySpan<float> values)
    {
        int n = values.Length;
        if (n <= Chunk) return Serial(values);
        long total = 0;
        fixed (float* p = values)
        {
            float* q = p;
            Parallel.For(0, (n + Chunk - 1) / Chunk, () => 0L, (c, _, sum) =>
            {
                int start = c * Chunk;
                return sum + Serial(new ReadOnlySpan<float>(q + start, Math.Min(Chunk, n - start)));
            }, sum => Interlocked.Add(ref total, sum));
        }
        return total;
    }

    private static long Serial(ReadOnlySpan<float> values)
    {
        long zeros = 0;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            fixed (float* p = values)
            {
                for (; i + Vector256<float>.Count <= values.Length; i += Vector256<float>.Count)
                    zeros += BitOperations.PopCount(Vector256.Equals(Vector256.Load(p + i), Vector256<float>.Zero).ExtractMostSignificantBits());
            }
        }
        for (; i < values.Length; i++)
            if (values[i] == 0f) zeros++;
        return zeros;
    }
}
