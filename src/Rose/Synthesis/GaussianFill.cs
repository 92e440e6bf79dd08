using System.Numerics;
using System.Runtime.CompilerServices;

namespace Rose.Synthesis;

/// <summary>Deterministic N(mean, std) values from xoshiro256** streams, one stream per
/// (seed, tensor, chunk), so chunks can be generated in any order on any thread and the bytes
/// still depend on the seed alone.</summary>
public static class GaussianFill
{
    /// <summary>Fills <paramref name="destination"/> with the values of chunk
    /// <paramref name="chunk"/> of tensor <paramref name="tensor"/> (Box–Muller, two values per draw).</summary>
    public static void Fill(Span<float> destination, ulong seed, int tensor, long chunk, float std)
    {
        var rng = new Xoshiro256(Mix(seed, (ulong)tensor, (ulong)chunk));
        int i = 0;
        for (; i + 1 < destination.Length; i += 2)
        {
            var (a, b) = NormalPair(ref rng);
            destination[i] = a * std;
            destination[i + 1] = b * std;
        }
        if (i < destination.Length) destination[i] = NormalPair(ref rng).A * std;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (float A, float B) NormalPair(ref Xoshiro256 rng)
    {
        // u1 in (0, 1] keeps the logarithm finite; 24 random bits are all a float can hold.
        float u1 = ((rng.Next() >> 40) + 1) * (1f / (1 << 24));
        float u2 = (rng.Next() >> 40) * (1f / (1 << 24));
        float r = MathF.Sqrt(-2f * MathF.Log(u1));
        var (sin, cos) = MathF.SinCos(2f * MathF.PI * u2);
        return (r * cos, r * sin);
    }

    /// <summary>SplitMix64 over the three keys: well-separated starting states for adjacent chunks.</summary>
    private static ulong Mix(ulong seed, ulong tensor, ulong chunk)
    {
        ulong z = seed;
        z = SplitMix(z ^ SplitMix(tensor + 0x9E3779B97F4A7C15UL));
        z = SplitMix(z ^ SplitMix(chunk + 0xD1B54A32D192ED03UL));
        return z;
    }

    private static ulong SplitMix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private struct Xoshiro256
    {
        private ulong _s0, _s1, _s2, _s3;

        public Xoshiro256(ulong seed)
        {
            _s0 = SplitMix(seed);
            _s1 = SplitMix(_s0);
            _s2 = SplitMix(_s1);
            _s3 = SplitMix(_s2);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public ulong Next()
        {
            ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
            ulong t = _s1 << 17;
            _s2 ^= _s0;
            _s3 ^= _s1;
            _s1 ^= _s2;
            _s0 ^= _s3;
            _s2 ^= t;
            _s3 = BitOperations.RotateLeft(_s3, 45);
            return result;
        }
    }
}
