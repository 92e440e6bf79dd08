using BenchmarkDotNet.Attributes;
using Rose.Pruning;

namespace Rose.Bench.Pruning;

/// <summary>ROSE's ordering statistics: S = |W|·sqrt(s) (Scores), then the per-block thresholds
/// and losses (OrderingLosses, blocks of 128, p = 0.7). Work in bytes, the least traffic the two
/// need: read W and write S (8·rows·cols), read S once more (4·rows·cols), plus the vectors.</summary>
public abstract class ScoresBenchmark : PruningBenchmark
{
    private BackendMatrix? _weight;
    private BackendVector? _statistic;
    private double[] _columnLoss = [];
    private double[] _blockLoss = [];

    protected abstract IReadOnlyList<BenchShape> ShapeSet { get; }

    public override IEnumerable<BenchShape> Shapes => ShapeSet;

    public override BenchWork DeclaredWork()
    {
        double cells = (double)Shape.Rows * Shape.Cols;
        return BenchWork.Bytes(12 * cells + 4.0 * Shape.Cols + 8.0 * Shape.Cols);
    }

    protected override void Prepare()
    {
        _weight = Backend.Upload(BenchData.Weights(Shape.Rows, Shape.Cols), Shape.Rows, Shape.Cols);
        _statistic = Backend.UploadVector(BenchData.ScoreStatistic(Shape.Tokens, Shape.Cols));
        _columnLoss = new double[Shape.Cols];
        _blockLoss = new double[(Shape.Cols + BlockSize - 1) / BlockSize];
    }

    [Benchmark]
    public double ScoresAndLosses()
    {
        using (var scores = Backend.Scores(_weight!, _statistic!))
            Backend.OrderingLosses(scores, BlockSize, Rule, _columnLoss, _blockLoss);
        Backend.Synchronize();
        return _blockLoss[0];
    }

    protected override void Release()
    {
        _weight?.Dispose();
        _statistic?.Dispose();
    }
}

[BenchmarkCategory("quick")]
public class ScoresQuick : ScoresBenchmark
{
    protected override IReadOnlyList<BenchShape> ShapeSet => BenchShapes.Quick;
}

[BenchmarkCategory("full")]
public class ScoresFull : ScoresBenchmark
{
    protected override IReadOnlyList<BenchShape> ShapeSet => BenchShapes.Full;
}
