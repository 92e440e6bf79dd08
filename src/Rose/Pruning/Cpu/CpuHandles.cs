namespace Rose.Pruning.Cpu;

/// <summary>A <see cref="BackendMatrix"/> over a host float[] (row-major, leading dimension = Cols).</summary>
internal sealed class CpuMatrix : BackendMatrix
{
    public CpuMatrix(int rows, int cols) : base(rows, cols) => Data = new float[checked(rows * cols)];

    public CpuMatrix(float[] data, int rows, int cols) : base(rows, cols)
    {
        if (data.Length != (long)rows * cols)
            throw new ArgumentException($"Matrix data has {data.Length} elements, expected {rows}×{cols}.");
        Data = data;
    }

    public float[] Data { get; private set; }

    public Span<float> Row(int r) => Data.AsSpan(r * Cols, Cols);

    protected override void Dispose(bool disposing) => Data = [];
}

/// <summary>A <see cref="BackendVector"/> over a host float[].</summary>
internal sealed class CpuVector : BackendVector
{
    public CpuVector(float[] data) : base(data.Length) => Data = data;

    public float[] Data { get; private set; }

    protected override void Dispose(bool disposing) => Data = [];
}
