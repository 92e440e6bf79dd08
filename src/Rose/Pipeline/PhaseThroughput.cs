using Rose.Modeling;

namespace Rose.Pipeline;

/// <summary>Achieved throughput of the pipeline's phases, from the model shape, the pruned matrices
/// and the measured seconds, so a run can be read against the device's peak. Counts:
/// a layer forward is 2·(linear parameters) flop per token plus 2·seqLen·q_dim for causal attention
/// (the dense statistics pass stops before down_proj);
/// the statistics fold is cols² per token for each of the four input groups (XᵀX is symmetric: the
/// half that needs computing; the GEMM blocks on the diagonal do somewhat more);
/// the upper factor of H⁻¹ is 2/3·n³ per matrix that made one (one Cholesky factorization n³/3 and one
/// triangular inverse n³/3, the route both backends take; a matrix sweeping with a factor its input group
/// shared spent no time on it and counts none);
/// the OBS sweeps are rows·cols·(cols + B) (the trailing updates rows·cols², the in-block updates
/// rows·cols·B); the ROSE ordering moves at least (6·rows·cols + 2·cols²)·4 bytes per matrix
/// (W read for the scores, the scores written and read, W gathered there and back, H permuted).</summary>
public static class PhaseThroughput
{
    public static double ForwardFlopPerToken(ModelShape s, int seqLen)
    {
        double linear = (double)s.Hidden * s.QDim * 2 + 2.0 * s.Hidden * s.KvDim + 3.0 * s.Hidden * s.Intermediate;
        return 2 * linear + 2.0 * seqLen * s.QDim;
    }

    /// <summary>The dense statistics pass: the forward up to the last linear's input (no down_proj,
    /// whose output nobody needs) and the four folds.</summary>
    public static double StatisticsFlopPerToken(ModelShape s, int seqLen) =>
        ForwardFlopPerToken(s, seqLen) - 2.0 * s.Intermediate * s.Hidden + FoldFlopPerToken(s);

    public static double FoldFlopPerToken(ModelShape s) =>
        2.0 * s.Hidden * s.Hidden + (double)s.QDim * s.QDim + (double)s.Intermediate * s.Intermediate;

    /// <summary>TFLOP/s of "statistics" (dense forward + fold, every layer), "forward" (the pruned
    /// forward, every layer but the last), "prune_cholesky" and "prune_obs"; a phase that took no
    /// time or did no work is left out.</summary>
    public static Dictionary<string, double> Of(ModelShape shape, int layers, long tokens, int seqLen,
        IReadOnlyDictionary<string, double> seconds, IReadOnlyList<MatrixReport>? matrices = null, int blockSize = 128)
    {
        var flop = new Dictionary<string, double>();
        if (tokens > 0)
        {
            flop["statistics"] = layers * tokens * StatisticsFlopPerToken(shape, seqLen);
            flop["forward"] = Math.Max(0, layers - 1) * tokens * ForwardFlopPerToken(shape, seqLen);
        }
        if (matrices is { Count: > 0 })
        {
            flop["prune_cholesky"] = matrices.Where(m => m.Seconds.GetValueOrDefault("cholesky") > 0)
                .Sum(m => 2.0 / 3 * Math.Pow(m.Shape[1], 3));
            flop["prune_obs"] = matrices.Where(m => m.Loss is not null)
                .Sum(m => (double)m.Shape[0] * m.Shape[1] * (m.Shape[1] + Math.Min(blockSize, m.Shape[1])));
        }
        return Rates(flop, seconds, 1e12);
    }

    /// <summary>GB/s of "prune_ordering" (the ROSE matrices that were reordered), by the minimum traffic above.</summary>
    public static Dictionary<string, double> Bandwidth(IReadOnlyList<MatrixReport> matrices, IReadOnlyDictionary<string, double> seconds)
    {
        double bytes = matrices.Where(m => m.Reordered == true)
            .Sum(m => (6.0 * m.Shape[0] * m.Shape[1] + 2.0 * m.Shape[1] * m.Shape[1]) * sizeof(float));
        return Rates(new Dictionary<string, double> { ["prune_ordering"] = bytes }, seconds, 1e9);
    }

    private static Dictionary<string, double> Rates(Dictionary<string, double> work, IReadOnlyDictionary<string, double> seconds, double unit)
    {
        var result = new Dictionary<string, double>();
        foreach (var (phase, amount) in work)
            if (amount > 0 && seconds.GetValueOrDefault(phase) is > 0 and var s)
                result[phase] = amount / s / unit;
        return result;
    }
}
