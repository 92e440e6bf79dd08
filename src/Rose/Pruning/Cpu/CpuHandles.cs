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

    /// <summary>Only the upper triangle is current (a symmetric matrix the Hessian fold updated); the lower one
    /// is stale until <see cref="CompleteLowerTriangle"/>. Volatile: a reader that sees it cleared outside the
    /// lock must also see the mirrored values.</summary>
    public bool LowerTrianglePending
    {
        get => _lowerTrianglePending;
        set => _lowerTrianglePending = value;
    }

    private volatile bool _lowerTrianglePending;

    private readonly Lock _completion = new();

    /// <summary>Copies the upper triangle onto the lower one if it is pending, in square tiles so the column-wise
    /// reads of the upper side stay within a few cache lines per tile instead of one line per value.</summary>
    public void CompleteLowerTriangle()
    {
        if (!LowerTrianglePending) return;
        lock (_completion)
        {
            if (!LowerTrianglePending) return;
            const int T = 32;
            int n = Cols;
            var a = Data;
            Parallel.For(0, (n + T - 1) / T, ti =>
            {
                int i0 = ti * T, i1 = Math.Min(n, i0 + T);
                for (int j0 = 0; j0 <= i0; j0 += T)
                {
                    for (int i = i0; i < i1; i++)
                    {
                        int j1 = Math.Min(i, j0 + T);
                        for (int j = j0; j < j1; j++) a[i * n + j] = a[j * n + i];
                    }
                }
            });
            LowerTrianglePending = false;
        }
    }

    protected override void Dispose(bool disposing) => Data = [];
}

/// <summary>A <see cref="BackendVector"/> over a host float[].</summary>
internal sealed class CpuVector : BackendVector
{
    public CpuVector(float[] data) : base(data.Length) => Data = data;

    public float[] Data { get; private set; }

    protected override void Dispose(bool disposing) => Data = [];
}
