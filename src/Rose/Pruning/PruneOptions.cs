using System.Globalization;

namespace Rose.Pruning;

/// <summary>Which pruning algorithm to run on a weight matrix.</summary>
public enum PruneMethod
{
    Magnitude,
    Wanda,
    SparseGpt,
    Rose,
}

/// <summary>Which per-input-column activation statistic feeds the |W|·sqrt(s) score.</summary>
public enum ScoreStatistic
{
    /// <summary>ROSE's official running statistic: later sequences weigh less, s = (1/n) Σ (2/k)‖X_k[:,j]‖².</summary>
    Official,

    /// <summary>Wanda's plain mean s = (1/n) Σ ‖X_k[:,j]‖².</summary>
    Mean,
}

/// <summary>Semi-structured sparsity: N pruned of every M consecutive input columns, groups
/// anchored at global column index (col mod M).</summary>
public readonly record struct NmPattern
{
    public NmPattern(int n, int m)
    {
        if (m < 1 || n < 1 || n > m)
            throw new ArgumentException($"N:M pattern {n}:{m} is invalid: need 1 <= N <= M.");
        N = n;
        M = m;
    }

    public int N { get; }
    public int M { get; }

    /// <summary>Parses "N:M", e.g. "2:4".</summary>
    public static NmPattern Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(':');
        if (parts.Length != 2
            || !int.TryParse(parts[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            || !int.TryParse(parts[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var m))
            throw new FormatException($"N:M pattern '{text}' is not of the form N:M (e.g. 2:4).");
        return new NmPattern(n, m);
    }

    public override string ToString() => $"{N}:{M}";
}

/// <summary>How a pruning step decides which weights go: either the unstructured
/// "k-th smallest, ties pruned" rule at <see cref="Sparsity"/>, or N-of-M per group.</summary>
public readonly record struct MaskRule(double Sparsity, NmPattern? Pattern)
{
    public bool IsNm => Pattern.HasValue;

    /// <summary>Index of the threshold in the ascending sort, computed in double as the reference
    /// (Python floats) does: ⌊p·numel⌋, e.g. ⌊0.7·4096⌋ = 2867.</summary>
    public static long ThresholdIndex(double sparsity, long numel) => (long)Math.Floor(sparsity * numel);
}

/// <summary>Options of one matrix prune.</summary>
/// <param name="Method">Algorithm.</param>
/// <param name="Sparsity">Unstructured sparsity p in [0, 1]; ignored when <paramref name="Pattern"/> is set.</param>
/// <param name="Pattern">N:M pattern, or null for unstructured.</param>
/// <param name="BlockSize">SparseGPT/ROSE column block width B.</param>
/// <param name="Damp">Initial damping fraction λ of mean(diag H).</param>
/// <param name="ScoreStat">Statistic for the |W|·sqrt(s) score; null means the method's default
/// (Official for ROSE, Mean for Wanda).</param>
public sealed record PruneOptions(
    PruneMethod Method,
    double Sparsity,
    NmPattern? Pattern,
    int BlockSize = 128,
    double Damp = 0.01,
    ScoreStatistic? ScoreStat = null)
{
    /// <summary>The statistic actually used once the per-method default is applied.</summary>
    public ScoreStatistic EffectiveScoreStat =>
        ScoreStat ?? (Method == PruneMethod.Rose ? ScoreStatistic.Official : ScoreStatistic.Mean);

    public MaskRule Rule => new(Sparsity, Pattern);

    internal void Validate()
    {
        if (Pattern is null && !(Sparsity >= 0 && Sparsity <= 1))
            throw new ArgumentException($"Sparsity {Sparsity} is outside [0, 1].", nameof(Sparsity));
        if (BlockSize < 1)
            throw new ArgumentException($"Block size {BlockSize} must be positive.", nameof(BlockSize));
        if (!(Damp >= 0) || double.IsInfinity(Damp))
            throw new ArgumentException($"Damping {Damp} must be a finite non-negative number.", nameof(Damp));
    }
}
