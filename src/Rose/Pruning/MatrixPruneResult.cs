namespace Rose.Pruning;

/// <summary>What pruning one matrix did.</summary>
/// <param name="Rows">Output features.</param>
/// <param name="Cols">Input features.</param>
/// <param name="Sparsity">Achieved fraction of exact zeros.</param>
/// <param name="Loss">OBS loss Σ_rows Σ (w−q)²/d²/2 (SparseGPT/ROSE; null for magnitude/Wanda).</param>
/// <param name="RelativeRange">ROSE block-loss relative range r = (max ℓ − min ℓ)/max ℓ (ROSE only).</param>
/// <param name="Reordered">Whether ROSE permuted the columns (r &gt; 0.5; ROSE only).</param>
/// <param name="DampUsed">Damping fraction λ of the successful factorization (0.01, 0.1, …); with an
/// identity fallback the last λ tried; null for magnitude/Wanda.</param>
/// <param name="NonPdEvents">Failed factorizations (each one triggered a retry or the fallback).</param>
/// <param name="IdentityFallback">Every damping failed; U = I was used (no OBS updates).</param>
/// <param name="DeadColumns">Columns with H_jj = 0, zeroed in W.</param>
/// <param name="PhaseSeconds">"prepare", "cholesky", "ordering", "obs" (the mask itself for magnitude/Wanda), "transfer".</param>
public sealed record MatrixPruneResult(
    int Rows,
    int Cols,
    double Sparsity,
    double? Loss,
    double? RelativeRange,
    bool? Reordered,
    double? DampUsed,
    int NonPdEvents,
    bool IdentityFallback,
    int DeadColumns,
    IReadOnlyDictionary<string, double> PhaseSeconds);
