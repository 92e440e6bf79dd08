using Rose.Modeling;
using Rose.Pruning;

namespace Rose.Pipeline;

/// <summary>One linear of the model as `rose inspect` sees it.</summary>
public sealed record MatrixInspection(string Name, int Rows, int Cols, double Sparsity, double? RelativeRange, bool? WouldReorder);

/// <summary>Per-matrix sparsity and, with calibration data, the ROSE relative range of each matrix
/// (the paper's columnar-layer diagnostic) computed on the dense model, layer by layer.</summary>
public static class ModelInspector
{
    public static List<MatrixInspection> Inspect(LlamaModel model, IPruningBackend? backend, int[][]? windows,
        PruneOptions rose, IProgress<ProgressUpdate>? progress = null)
    {
        var result = new List<MatrixInspection>();
        var runner = windows is { Length: > 0 } ? new CalibrationRunner(model, windows) : null;
        for (int l = 0; l < model.LayerCount; l++)
        {
            var layer = model.LoadLayer(l);
            var stats = runner is not null && backend is not null ? runner.CollectStatistics(layer, backend) : null;
            try
            {
                foreach (var kind in LinearKinds.All)
                {
                    var linear = layer[kind];
                    long zeros = 0;
                    foreach (float v in linear.Weight) if (v == 0f) zeros++;
                    double? range = null;
                    bool? reorder = null;
                    if (stats is not null)
                    {
                        using var w = backend!.Upload(linear.Weight, linear.OutFeatures, linear.InFeatures);
                        var order = RoseOrdering.Compute(backend, w, stats[kind.InputGroup()].Scale(rose.EffectiveScoreStat), rose.BlockSize, rose.Rule);
                        (range, reorder) = (order.RelativeRange, order.Reordered);
                    }
                    result.Add(new MatrixInspection(LinearKinds.WeightName(l, kind), linear.OutFeatures, linear.InFeatures,
                        linear.Weight.Length == 0 ? 0 : (double)zeros / linear.Weight.Length, range, reorder));
                }
            }
            finally
            {
                if (stats is not null) foreach (var s in stats.Values) s.Dispose();
            }
            runner?.Advance(layer);
            progress?.Report(new ProgressUpdate($"layer {l + 1}/{model.LayerCount}", l + 1, model.LayerCount));
        }
        return result;
    }
}
