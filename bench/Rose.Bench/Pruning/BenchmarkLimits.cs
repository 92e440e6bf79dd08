namespace Rose.Bench.Pruning;

/// <summary>Where the CPU reference is left out of the full (LLaMA-7B) set because one invocation
/// would take about a minute or more. Measured with the quick set on two cores: the CPU OBS sweep
/// runs at 4–8 GFLOP/s and the double-precision factorization at about 3.5 GFLOP/s, so a 4096-wide
/// input takes seconds to tens of seconds while an 11008-wide one needs 5·10¹¹ (OBS) to 1.8·10¹²
/// (factorization) flop: minutes. The GPU runs every shape. The fold, scores and permutation run on
/// the CPU at every shape (at most ~30 s per fold of 11008 columns on two cores).</summary>
public static class BenchmarkLimits
{
    /// <summary>The widest input the CPU factorizes or OBS-sweeps in the full set.</summary>
    public const int CpuMaxFactorizedColumns = 4096;

    public static bool CpuAffordsFactorization(BenchShape shape) => shape.Cols <= CpuMaxFactorizedColumns;

    /// <summary>4096×4096 and 11008×4096 (≈ 7·10¹⁰ and 1.9·10¹¹ flop); not 4096×11008 (5·10¹¹).</summary>
    public static bool CpuAffordsObs(BenchShape shape) => shape.Cols <= CpuMaxFactorizedColumns;
}
