using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Rose.Synthesis;

/// <summary>Deterministic N(mean, std) values from xoshiro256** streams, one stream per
/// (seed, tensor, chunk), so chunks can be generated in any order on any thread and the bytes
/// still depend on the seed alone.</summary>
public static class GaussianFill
{
    /// <summary>Fills <paramref name="destination"/> with the values of chunk
    /// <paramref name="chunk"/> of tensor <paramref name="tensor"/>: Box–Muller, two values per
    /// pair of uniforms, with the transcendental part vectorized over the whole chunk.</summary>
    public static void Fill(Span<float> destination, ulong seed, int tensor, long chunk, float std)
    {
        var rng = new Xoshiro256(Mix(seed, (ulong)tensor, (ulong)chunk));
        int pairs = (destination.Length + 1) / 2;
        var pool = System.Buffers.ArrayPool<float>.Shared;
        float[] radius = pool.Rent(pairs), angle = pool.Rent(pairs), sin = pool.Rent(pairs), cos = pool.Rent(pairs);
        try
        {
            var r = radius.AsSpan(0, pairs);
            var a = angle.AsSpan(0, pairs);
            for (int p = 0; p < pairs; p++)
            {
                // u1 in (0, 1] keeps the logarithm finite; 24 random bits are all a float holds.
                r[p] = ((rng.Next() >> 40) + 1) * (1f / (1 << 24));
                a[p] = (rng.Next() >> 40) * (1f / (1 << 24));
            }
            TensorPrimitives.Log(r, r);
            TensorPrimitives.Multiply(r, -2f, r);
            TensorPrimitives.Sqrt(r, r);
            TensorPrimitives.Multiply(r, std, r);
            TensorPrimitives.Multiply(a, 2f * MathF.PI, a);
            TensorPrimitives.SinCos(a, sin.AsSpan(0, pairs), cos.AsSpan(0, pairs));
            int i = 0;
            for (int p = 0; p < pairs; p++)
            {
                destination[i++] = r[p] * cos[p];
                if (i < destination.Length) destination[i++] = r[p] * sin[p];
            }
        }
        finally
        {
            pool.Return(radius); pool.Return(angle); pool.Return(sin); pool.Return(cos);
        }
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
