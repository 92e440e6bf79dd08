using BenchmarkDotNet.Attributes;
using Rose.Pruning;

namespace Rose.Bench.Pruning;

/// <summary>FoldSequence of one calibration sequence (tokens × cols, passed from host memory as the
/// pipeline does, so a GPU backend's upload is part of the time). Work: 2·tokens·cols² flop, the
/// full XᵀX product, although backends may compute one triangle and mirror it.</summary>
public abstract class HessianFoldBenchmark : PruningBenchmark
{
    private float[] _x = [];
    private LayerInputStatistics? _stats;

    public override IEnumerable<BenchShape> Shapes => BenchShapes.DistinctInputs(ShapeSet);

    protected abstract IReadOnlyList<BenchShape> ShapeSet { get; }

    public override BenchWork DeclaredWork() => BenchWork.Flops(2.0 * Shape.Tokens * Shape.Cols * (double)Shape.Cols);

    protected override void Prepare()
    {
        _x = BenchData.Activations(Shape.Tokens, Shape.Cols);
        _stats = new LayerInputStatistics(Backend, Shape.Cols);
        _stats.Fold(_x, Shape.Tokens);
    }

    /// <summary>Always folds as sequence 2: H ← H/2 + XᵀX stays bounded however often it runs.</summary>
    [Benchmark]
    public void FoldSequence()
    {
        var s = _stats!;
        Backend.FoldSequence(s.Hessian, s.OfficialScale, s.MeanScale, _x, Shape.Tokens, sequenceIndex: 2);
        Backend.Synchronize();
    }

    protected override void Release() => _stats?.Dispose();
}

[BenchmarkCategory("quick")]
public class HessianFoldQuick : HessianFoldBenchmark
{
    protected override IReadOnlyList<BenchShape> ShapeSet => BenchShapes.Quick;
}

[BenchmarkCategory("full")]
public class HessianFoldFull : HessianFoldBenchmark
{
    protected override IReadOnlyList<BenchShape> ShapeSet => BenchShapes.Full;
}
