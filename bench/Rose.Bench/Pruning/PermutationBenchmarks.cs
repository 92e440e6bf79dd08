using BenchmarkDotNet.Attributes;
using Rose.Pruning;

namespace Rose.Bench.Pruning;

/// <summary>ROSE's permutation of one matrix: GatherColumns of W into a preallocated destination and
/// PermuteSymmetric of H (a new matrix, as MatrixPruner does), under a uniformly random permutation.
/// Work in bytes: each element read once and written once, 8·rows·cols + 8·cols².</summary>
public abstract class PermutationBenchmark : PruningBenchmark
{
    private BackendMatrix? _weight;
    private BackendMatrix? _gathered;
    private BackendMatrix? _hessian;
    private int[] _permutation = [];

    protected abstract IReadOnlyList<BenchShape> ShapeSet { get; }

    public override IEnumerable<BenchShape> Shapes => ShapeSet;

    public override BenchWork DeclaredWork() =>
        BenchWork.Bytes(8.0 * Shape.Rows * Shape.Cols + 8.0 * Shape.Cols * Shape.Cols);

    protected override void Prepare()
    {
        _weight = Backend.Upload(BenchData.Weights(Shape.Rows, Shape.Cols), Shape.Rows, Shape.Cols);
        _gathered = Backend.Allocate(Shape.Rows, Shape.Cols);
        _hessian = Backend.Upload(BenchData.SymmetricMatrix(Shape.Cols), Shape.Cols, Shape.Cols);
        _permutation = BenchData.Permutation(Shape.Cols);
    }

    [Benchmark]
    public void GatherAndPermute()
    {
        Backend.GatherColumns(_weight!, _permutation, _gathered!);
        using var permuted = Backend.PermuteSymmetric(_hessian!, _permutation);
        Backend.Synchronize();
    }

    protected override void Release()
    {
        _weight?.Dispose();
        _gathered?.Dispose();
        _hessian?.Dispose();
    }
}

[BenchmarkCategory("quick")]
public class PermutationQuick : PermutationBenchmark
{
    protected override IReadOnlyList<BenchShape> ShapeSet => BenchShapes.Quick;
}

[BenchmarkCategory("full")]
public class PermutationFull : PermutationBenchmark
{
    protected override IReadOnlyList<BenchShape> ShapeSet => BenchShapes.Full;
}
