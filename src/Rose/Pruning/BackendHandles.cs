namespace Rose.Pruning;

/// <summary>A row-major float32 matrix owned by a backend (host memory for the CPU backend,
/// device memory for CUDA). Only the backend that created it can operate on it.</summary>
public abstract class BackendMatrix : IDisposable
{
    protected BackendMatrix(int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        Rows = rows;
        Cols = cols;
    }

    public int Rows { get; }
    public int Cols { get; }
    public long Count => (long)Rows * Cols;

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected abstract void Dispose(bool disposing);
}

/// <summary>A float32 vector owned by a backend.</summary>
public abstract class BackendVector : IDisposable
{
    protected BackendVector(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
    }

    public int Length { get; }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected abstract void Dispose(bool disposing);
}

/// <summary>What <see cref="IPruningBackend.PrepareHessian"/> found.</summary>
/// <param name="MeanDiagonal">mean(diag H) after dead columns were set to 1 (the damping base).</param>
/// <param name="DeadColumns">How many columns had H_jj = 0.</param>
public readonly record struct HessianPreparation(double MeanDiagonal, int DeadColumns);
