using BenchmarkDotNet.Attributes;
using Rose.Pruning;

namespace Rose.Bench.Pruning;

/// <summary>SparseGPT's OBS pass over all blocks with U already factorized: for each standard block
/// of 128 columns ObsBlockSweep then TrailingUpdate, as <see cref="SparseGpt.Run"/> does after its
/// Cholesky step, ending with the row-loss download. W is cloned per invocation (the sweep prunes it
/// in place; the O(rows·cols) copy is timed, not counted). Work: <see cref="BenchWork.ObsSweepFlops"/>.</summary>
public abstract class ObsSweepBenchmark : PruningBenchmark
{
    private BackendMatrix? _weight;
    private BackendMatrix? _upper;
    private int[] _blocks = [];
    private float[] _rowLoss = [];

    protected abstract IReadOnlyList<BenchShape> ShapeSet { get; }

    public override IEnumerable<BenchShape> Shapes => ShapeSet;

    public override BenchWork DeclaredWork() =>
        BenchWork.Flops(BenchWork.ObsSweepFlops(Shape.Rows, Shape.Cols, SparseGpt.StandardBlocks(Shape.Cols, BlockSize, null)));

    protected override void Prepare()
    {
        _weight = Backend.Upload(BenchData.Weights(Shape.Rows, Shape.Cols), Shape.Rows, Shape.Cols);
        _upper = Backend.Allocate(Shape.Cols, Shape.Cols);
        using (var stats = FoldedStatistics())
        using (var h = Backend.Clone(stats.Hessian))
        {
            var prep = Backend.PrepareHessian(h, _weight);
            Backend.AddDiagonal(h, (float)(0.01 * prep.MeanDiagonal));
            if (!Backend.CholeskyInverseUpper(h, _upper))
                throw new InvalidOperationException($"Cholesky of the synthetic {Shape.Cols}×{Shape.Cols} Hessian failed on {Device}.");
        }
        _blocks = SparseGpt.StandardBlocks(Shape.Cols, BlockSize, null);
        _rowLoss = new float[Shape.Rows];
    }

    [Benchmark]
    public double SweepAllBlocks()
    {
        using var w = Backend.Clone(_weight!);
        using var error = Backend.Allocate(Shape.Rows, _blocks.Max());
        using var rowLoss = Backend.AllocateVector(Shape.Rows);
        int i1 = 0;
        foreach (int width in _blocks)
        {
            int i2 = i1 + width;
            Backend.ObsBlockSweep(w, _upper!, i1, i2, Rule, error, rowLoss);
            Backend.TrailingUpdate(w, error, _upper!, i1, i2);
            i1 = i2;
        }
        Backend.Download(rowLoss, _rowLoss);
        Backend.Synchronize();
        return _rowLoss[0];
    }

    protected override void Release()
    {
        _weight?.Dispose();
        _upper?.Dispose();
    }
}

[BenchmarkCategory("quick")]
public class ObsSweepQuick : ObsSweepBenchmark
{
    protected override IReadOnlyList<BenchShape> ShapeSet => BenchShapes.Quick;
}

[BenchmarkCategory("full")]
public class ObsSweepFull : ObsSweepBenchmark
{
    protected override IReadOnlyList<BenchShape> ShapeSet => BenchShapes.Full;

    /// <summary>See <see cref="BenchmarkLimits"/>: the CPU skips 4096×11008.</summary>
    public override bool CpuRuns(BenchShape shape) => BenchmarkLimits.CpuAffordsObs(shape);
}
