using BenchmarkDotNet.Attributes;
using Rose.Pruning;

namespace Rose.Bench.Pruning;

/// <summary>SparseGPT's factorization step: a copy of H (MatrixPruner clones the shared statistics
/// too), PrepareHessian, AddDiagonal with λ = 0.01·mean(diag H), CholeskyInverseUpper. Work:
/// <see cref="BenchWork.CholeskyInverseUpperFlops"/> (4n³/3); the O(n²) copy and preparation are
/// timed but not counted.</summary>
public abstract class CholeskyBenchmark : PruningBenchmark
{
    private LayerInputStatistics? _stats;
    private BackendMatrix? _weight;
    private BackendMatrix? _upper;

    public override IEnumerable<BenchShape> Shapes => BenchShapes.DistinctInputs(ShapeSet);

    protected abstract IReadOnlyList<BenchShape> ShapeSet { get; }

    public override BenchWork DeclaredWork() => BenchWork.Flops(BenchWork.CholeskyInverseUpperFlops(Shape.Cols));

    protected override void Prepare()
    {
        _stats = FoldedStatistics();
        // PrepareHessian only touches W at dead columns; one row is enough to satisfy its shape check.
        _weight = Backend.Upload(BenchData.Weights(1, Shape.Cols), 1, Shape.Cols);
        _upper = Backend.Allocate(Shape.Cols, Shape.Cols);
        if (!Factorize())
            throw new InvalidOperationException($"Cholesky of the synthetic {Shape.Cols}×{Shape.Cols} Hessian failed on {Device}.");
    }

    [Benchmark]
    public bool Factorize()
    {
        using var h = Backend.Clone(_stats!.Hessian);
        var prep = Backend.PrepareHessian(h, _weight!);
        Backend.AddDiagonal(h, (float)(0.01 * prep.MeanDiagonal));
        bool ok = Backend.CholeskyInverseUpper(h, _upper!);
        Backend.Synchronize();
        return ok;
    }

    protected override void Release()
    {
        _stats?.Dispose();
        _weight?.Dispose();
        _upper?.Dispose();
    }
}

[BenchmarkCategory("quick")]
public class CholeskyQuick : CholeskyBenchmark
{
    protected override IReadOnlyList<BenchShape> ShapeSet => BenchShapes.Quick;
}

[BenchmarkCategory("full")]
public class CholeskyFull : CholeskyBenchmark
{
    protected override IReadOnlyList<BenchShape> ShapeSet => BenchShapes.Full;

    /// <summary>See <see cref="BenchmarkLimits"/>: the CPU factorizes n = 4096 only.</summary>
    public override bool CpuRuns(BenchShape shape) => BenchmarkLimits.CpuAffordsFactorization(shape);
}
