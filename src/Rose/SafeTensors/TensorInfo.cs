namespace Rose.SafeTensors;

/// <summary>One tensor's header entry. <see cref="Begin"/>/<see cref="End"/> are byte offsets
/// relative to the data region (the bytes after the 8-byte prefix and the JSON header).</summary>
public sealed record TensorInfo(string Name, DType DType, long[] Shape, long Begin, long End)
{
    public long NumElements { get; } = Shapes.NumElements(Shape);

    public long ByteLength => End - Begin;

    public string ShapeText => Shapes.Format(Shape);
}

/// <summary>A tensor to be written: its name, dtype and shape; offsets are assigned by the writer.</summary>
public sealed record TensorSpec(string Name, DType DType, long[] Shape)
{
    public long NumElements { get; } = Shapes.NumElements(Shape);

    public long ByteLength => NumElements * DType.ElementSize();
}

internal static class Shapes
{
    /// <summary>Product of the dims, or -1 when a dim is negative or the product overflows.</summary>
    public static long TryNumElements(IReadOnlyList<long> shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) return -1;
            if (d != 0 && n > long.MaxValue / d) return -1;
            n *= d;
        }
        return n;
    }

    public static long NumElements(long[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var n = TryNumElements(shape);
        return n >= 0 ? n : throw new ArgumentException($"invalid shape {Format(shape)}", nameof(shape));
    }

    public static string Format(IReadOnlyList<long> shape) => "[" + string.Join(", ", shape) + "]";
}
