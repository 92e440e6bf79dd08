using BenchmarkDotNet.Attributes;
using Rose.Pruning;

namespace Rose.Bench.Pruning;

/// <summary>The masks without a Hessian: magnitude (one threshold over the whole matrix, the grid-wide select
/// on CUDA) and Wanda (the ⌊p·cols⌋ smallest |W|·sqrt(s) of each row), unstructured at p = 0.7 and 2:4.
/// W is cloned per invocation (both prune in place; the copy is timed, not counted). Work in bytes, the least
/// traffic a mask needs: read W and write it (8·rows·cols), plus Wanda's statistic.</summary>
public abstract class OneShotMaskBenchmark : PruningBenchmark
{
    private BackendMatrix? _weight;
    private BackendVector? _statistic;

    public enum MaskCriterion { Magnitude, Wanda }

    [ParamsAllValues]
    public MaskCriterion Criterion { get; set; }

    /// <summary>"0.7" (unstructured) or "2:4".</summary>
    [Params("0.7", "2:4")]
    public string Sparsity { get; set; } = "0.7";

    protected abstract IReadOnlyList<BenchShape> ShapeSet { get; }

    public override IEnumerable<BenchShape> Shapes => ShapeSet;

    private MaskRule MaskRule => Sparsity == "2:4" ? new MaskRule(0.5, new NmPattern(2, 4)) : Rule;

    public override BenchWork DeclaredWork() =>
        BenchWork.Bytes(8.0 * Shape.Rows * Shape.Cols + (Criterion == MaskCriterion.Wanda ? 4.0 * Shape.Cols : 0));

    protected override void Prepare()
    {
        _weight = Backend.Upload(BenchData.Weights(Shape.Rows, Shape.Cols), Shape.Rows, Shape.Cols);
        _statistic = Backend.UploadVector(BenchData.ScoreStatistic(Shape.Tokens, Shape.Cols));
    }

    [Benchmark]
    public void PruneMask()
    {
        using var w = Backend.Clone(_weight!);
        if (Criterion == MaskCriterion.Magnitude) Backend.MagnitudePrune(w, MaskRule);
        else Backend.WandaPrune(w, _statistic!, MaskRule);
        Backend.Synchronize();
    }

    protected override void Release()
    {
        _weight?.Dispose();
        _statistic?.Dispose();
    }
}

[BenchmarkCategory("quick")]
public class OneShotMaskQuick : OneShotMaskBenchmark
{
    protected override IReadOnlyList<BenchShape> ShapeSet => BenchShapes.Quick;
}

[BenchmarkCategory("full")]
public class OneShotMaskFull : OneShotMaskBenchmark
{
    protected override IReadOnlyList<BenchShape> ShapeSet => BenchShapes.Full;
}
