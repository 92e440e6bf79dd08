namespace Rose.SafeTensors;

/// <summary><see cref="FloatConversion"/> split over all cores, for whole weight matrices
/// (hundreds of MB per decoder layer) on the pipeline's critical path.</summary>
public static unsafe class ParallelConversion
{
    private const int Chunk = 1 << 20;

    public static void FromSingle(DType dtype, ReadOnlySpan<float> source, Span<byte> destination)
    {
        int size = dtype.ElementSize();
        if ((long)source.Length * size != destination.Length)
            throw new ArgumentException($"{destination.Length} bytes of {dtype.ToSafeTensorsString()} do not hold {source.Length} elements");
        if (source.Length <= Chunk)
        {
            FloatConversion.FromSingle(dtype, source, destination);
            return;
        }
        int n = source.Length;
        fixed (float* src = source)
        fixed (byte* dst = destination)
        {
            float* s = src;
            byte* d = dst;
            Parallel.For(0, (n + Chunk - 1) / Chunk, c =>
            {
                int start = c * Chunk, count = Math.Min(Chunk, n - start);
                FloatConversion.FromSingle(dtype, new ReadOnlySpan<float>(s + start, count), new Span<byte>(d + (long)start * size, count * size));
            });
        }
    }
}
