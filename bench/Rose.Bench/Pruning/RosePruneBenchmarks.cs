using BenchmarkDotNet.Attributes;
using Rose.Pruning;

namespace Rose.Bench.Pruning;

/// <summary>The whole per-matrix ROSE prune at p = 0.7 (MatrixPruner.Prune: upload, scores and
/// ordering, permutation, Hessian copy and factorization, OBS sweep, un-permute, download), from a
/// fresh host copy of W each invocation. Work: the factorization plus the OBS sweep flop, the two
/// terms that dominate; the rest is O(rows·cols + cols²).</summary>
public abstract class RosePruneBenchmark : PruningBenchmark
{
    private static readonly PruneOptions Options = new(PruneMethod.Rose, 0.7, null, BlockSize);

    private LayerInputStatistics? _stats;
    private float[] _original = [];
    private float[] _weight = [];

    protected abstract IReadOnlyList<BenchShape> ShapeSet { get; }

    public override IEnumerable<BenchShape> Shapes => ShapeSet;

    public override BenchWork DeclaredWork() => BenchWork.Flops(
        BenchWork.CholeskyInverseUpperFlops(Shape.Cols)
        + BenchWork.ObsSweepFlops(Shape.Rows, Shape.Cols, SparseGpt.StandardBlocks(Shape.Cols, BlockSize, null)));

    protected override void Prepare()
    {
        _stats = FoldedStatistics();
        _original = BenchData.Weights(Shape.Rows, Shape.Cols);
        _weight = new float[_original.Length];
        var result = Prune();
        // Whether the permuted path ran decides what was measured; say so in the case's log.
        Console.WriteLine($"// ROSE {Shape} on {Device}: reordered={result.Reordered}, r={result.RelativeRange:F3}, sparsity={result.Sparsity:F3}");
    }

    [Benchmark]
    public MatrixPruneResult Prune()
    {
        _original.CopyTo(_weight, 0);
        var result = MatrixPruner.Prune(Backend, _weight, Shape.Rows, Shape.Cols, _stats, Options);
        // Each invocation is its input group's only reader: the factor it left for others would spare the next
        // invocation the factorization this benchmark counts.
        _stats!.ReleaseSharedFactor();
        Backend.Synchronize();
        return result;
    }

    protected override void Release() => _stats?.Dispose();
}

[BenchmarkCategory("quick")]
public class RosePruneQuick : RosePruneBenchmark
{
    protected override IReadOnlyList<BenchShape> ShapeSet => BenchShapes.Quick;
}

[BenchmarkCategory("full")]
public class RosePruneFull : RosePruneBenchmark
{
    protected override IReadOnlyList<BenchShape> ShapeSet => BenchShapes.Full;

    /// <summary>Factorization plus sweep: the CPU runs the whole prune where it runs both parts.</summary>
    public override bool CpuRuns(BenchShape shape) =>
        BenchmarkLimits.CpuAffordsFactorization(shape) && BenchmarkLimits.CpuAffordsObs(shape);
}
