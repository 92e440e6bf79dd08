using Rose.Modeling;

namespace Rose.Pipeline;

/// <summary>Achieved TFLOP/s of the pipeline's GEMM-like phases, from the model shape and the
/// measured seconds, so a run can be read against the device's peak. Counts: a layer forward is
/// 2·(linear parameters) flop per token plus 2·seqLen·q_dim for causal attention; the statistics
/// fold is 2·cols² per token for each of the four input groups (the full XᵀX GEMM).</summary>
public static class PhaseThroughput
{
    public static double ForwardFlopPerToken(ModelShape s, int seqLen)
    {
        double linear = (double)s.Hidden * s.QDim * 2 + 2.0 * s.Hidden * s.KvDim + 3.0 * s.Hidden * s.Intermediate;
        return 2 * linear + 2.0 * seqLen * s.QDim;
    }

    public static double FoldFlopPerToken(ModelShape s) =>
        2.0 * (2.0 * s.Hidden * s.Hidden + (double)s.QDim * s.QDim + (double)s.Intermediate * s.Intermediate);

    /// <summary>"statistics" (dense forward + fold, every layer) and "forward" (the pruned forward,
    /// every layer but the last) in TFLOP/s; a phase that took no time is left out.</summary>
    public static Dictionary<string, double> Of(ModelShape shape, int layers, long tokens, int seqLen, IReadOnlyDictionary<string, double> seconds)
    {
        var result = new Dictionary<string, double>();
        if (tokens == 0) return result;
        double statistics = layers * tokens * (ForwardFlopPerToken(shape, seqLen) + FoldFlopPerToken(shape));
        double forward = Math.Max(0, layers - 1) * tokens * ForwardFlopPerToken(shape, seqLen);
        if (seconds.GetValueOrDefault("statistics") is > 0 and var st) result["statistics"] = statistics / st / 1e12;
        if (seconds.GetValueOrDefault("forward") is > 0 and var fw) result["forward"] = forward / fw / 1e12;
        return result;
    }
}
