namespace Rose.Bench.Pruning;

public enum WorkUnit
{
    /// <summary>Floating-point operations (a multiply-add counts 2); shown as TFLOP/s.</summary>
    Flop,

    /// <summary>Bytes read plus bytes written in device/host memory; shown as GB/s.</summary>
    Byte,
}

/// <summary>How much work one invocation of a benchmark case does, for the throughput column.</summary>
public readonly record struct BenchWork(double Amount, WorkUnit Unit)
{
    public static BenchWork Flops(double amount) => new(amount, WorkUnit.Flop);

    public static BenchWork Bytes(double amount) => new(amount, WorkUnit.Byte);

    /// <summary>The three factorization steps of CholeskyInverseUpper: cholesky n³/3, cholesky_inverse
    /// (triangular inverse n³/3 plus the L⁻ᵀL⁻¹ product n³/3) and cholesky(upper) n³/3 = 4n³/3.</summary>
    public static double CholeskyInverseUpperFlops(int n) => 4.0 * n * n * n / 3.0;

    /// <summary>SparseGPT's OBS pass over the given blocks: inside a block of width w each row does
    /// Σᵢ 2(w − i) = w(w + 1) flop of rank-1 tail updates; after it the trailing GEMM does
    /// 2·rows·w·(cols − i2). The sum is ≈ rows·cols² (the trailing GEMMs form a triangle).</summary>
    public static double ObsSweepFlops(int rows, int cols, IReadOnlyList<int> blockWidths)
    {
        double total = 0;
        int i2 = 0;
        foreach (int w in blockWidths)
        {
            i2 += w;
            total += (double)rows * w * (w + 1) + 2.0 * rows * w * (cols - i2);
        }
        return total;
    }
}

/// <summary>A benchmark that can say, from its parameters alone (no setup run), how much work one
/// invocation does. The throughput column calls this in the host process.</summary>
public interface IDeclaresWork
{
    BenchWork DeclaredWork();
}
