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
        fixed (float* src = source)
        fixed (byte* dst = destination)
        {
            float* s = src;
            byte* d = dst;
            Split(source.Length, (start, count) =>
                FloatConversion.FromSingle(dtype, new ReadOnlySpan<float>(s + start, count), new Span<byte>(d + (long)start * size, count * size)));
        }
    }

    public static void ToSingle(DType dtype, ReadOnlySpan<byte> source, Span<float> destination)
    {
        int size = dtype.ElementSize();
        if ((long)destination.Length * size != source.Length)
            throw new ArgumentException($"{source.Length} bytes of {dtype.ToSafeTensorsString()} do not hold {destination.Length} elements");
        fixed (byte* src = source)
        fixed (float* dst = destination)
        {
            byte* s = src;
            float* d = dst;
            Split(destination.Length, (start, count) =>
                FloatConversion.ToSingle(dtype, new ReadOnlySpan<byte>(s + (long)start * size, count * size), new Span<float>(d + start, count)));
        }
    }

    /// <summary>Runs <paramref name="convert"/>(start, count) over [0, n) in chunks, on all cores when there is more than one.</summary>
    private static void Split(int n, Action<int, int> convert)
    {
        if (n <= Chunk)
        {
            convert(0, n);
            return;
        }
        Parallel.For(0, (n + Chunk - 1) / Chunk, c =>
        {
            int start = c * Chunk;
            convert(start, Math.Min(Chunk, n - start));
        });
    }
}
