namespace Rose.Pruning;

/// <summary>The primitive operations the pruning algorithms are written against. Each member is
/// coarse enough to map to one GPU kernel or one cuBLAS/cuSOLVER call; the algorithms never
/// branch on the backend. Handles passed in must come from the same backend.</summary>
public interface IPruningBackend : IDisposable
{
    string Name { get; }

    /// <summary>Waits until every operation issued so far has finished (a no-op on the CPU): for
    /// timing, and before handing results to code outside the backend.</summary>
    void Synchronize();

    // ---- memory -------------------------------------------------------------------------

    /// <summary>A zero-filled rows×cols matrix.</summary>
    BackendMatrix Allocate(int rows, int cols);

    BackendMatrix Upload(ReadOnlySpan<float> data, int rows, int cols);

    /// <summary>A matrix the backend works on in place of <paramref name="data"/> while the caller leaves it
    /// alone: the host backend uses the array itself (no copy of a 180 MB 7B matrix each way; changes show in
    /// it at once, and <see cref="Download(BackendMatrix, Span{float})"/> into it is then nothing to do); others
    /// upload a copy.</summary>
    BackendMatrix UploadInPlace(float[] data, int rows, int cols) => Upload(data, rows, cols);

    /// <summary>A zero-filled vector.</summary>
    BackendVector AllocateVector(int length);

    BackendVector UploadVector(ReadOnlySpan<float> data);

    void Download(BackendMatrix source, Span<float> destination);

    void Download(BackendVector source, Span<float> destination);

    BackendMatrix Clone(BackendMatrix source);

    // ---- calibration statistics ----------------------------------------------------------

    /// <summary>Folds calibration sequence number <paramref name="sequenceIndex"/> (k, 1-based),
    /// x = tokens×cols row-major, into the running statistics:
    /// H ← H·(k−1)/k + (2/k)·XᵀX (both triangles filled),
    /// sOfficial_j ← sOfficial_j·(k−1)/k + (2/k²)‖X[:,j]‖², sMean_j ← sMean_j·(k−1)/k + (1/k)‖X[:,j]‖².</summary>
    void FoldSequence(BackendMatrix hessian, BackendVector sOfficial, BackendVector sMean,
        ReadOnlySpan<float> x, int tokens, int sequenceIndex);

    // ---- Hessian preparation and factorization -------------------------------------------

    /// <summary>Dead columns (H_jj = 0): H_jj ← 1 and W[:, j] ← 0. Returns mean(diag H) afterwards.</summary>
    HessianPreparation PrepareHessian(BackendMatrix hessian, BackendMatrix weight);

    void AddDiagonal(BackendMatrix matrix, float value);

    /// <summary>H = LLᵀ, H⁻¹ from L, then the upper U with UᵀU = H⁻¹ (torch: cholesky →
    /// cholesky_inverse → cholesky(upper=True)). H is left unchanged. Returns false, never throws,
    /// when a factorization meets a non-positive pivot.</summary>
    bool CholeskyInverseUpper(BackendMatrix hessian, BackendMatrix upper);

    void SetIdentity(BackendMatrix matrix);

    // ---- scores and ROSE ordering --------------------------------------------------------

    /// <summary>S = |W| · sqrt(s), s broadcast over rows.</summary>
    BackendMatrix Scores(BackendMatrix weight, BackendVector statistic);

    /// <summary>ROSE ordering losses over column blocks of <paramref name="blockWidth"/> (the last
    /// one possibly partial). Unstructured: t_b = ascending(S_b)[⌊p·numel⌋], L_b = S_b·[S_b ≤ t_b];
    /// N:M (blockWidth = M): L keeps the N smallest scores per row of each group.
    /// columnLoss[j] = Σ_rows L[:, j], blockLoss[b] = Σ L_b (double).</summary>
    void OrderingLosses(BackendMatrix scores, int blockWidth, MaskRule rule,
        Span<double> columnLoss, Span<double> blockLoss);

    /// <summary>D[:, j] = S[:, perm[j]]; D must have S's shape and must not be S.</summary>
    void GatherColumns(BackendMatrix source, ReadOnlySpan<int> permutation, BackendMatrix destination);

    /// <summary>Returns D with D[i, j] = S[perm[i], perm[j]].</summary>
    BackendMatrix PermuteSymmetric(BackendMatrix source, ReadOnlySpan<int> permutation);

    // ---- OBS (SparseGPT) -----------------------------------------------------------------

    /// <summary>The in-block OBS loop on columns [i1, i2): builds the mask (unstructured: one
    /// threshold over W1²/diag(U1)² of the whole block; N:M: per group starting at each column with
    /// col mod M = 0, from the already-updated weights), writes Q into W[:, i1:i2], the scaled errors
    /// into error[:, 0:i2−i1] and adds Σ (w−q)²/d² / 2 of each row to rowLoss.</summary>
    void ObsBlockSweep(BackendMatrix weight, BackendMatrix upper, int i1, int i2, MaskRule rule,
        BackendMatrix error, BackendVector rowLoss);

    /// <summary>W[:, i2:] −= E[:, 0:i2−i1] · U[i1:i2, i2:].</summary>
    void TrailingUpdate(BackendMatrix weight, BackendMatrix error, BackendMatrix upper, int i1, int i2);

    // ---- one-shot masks ------------------------------------------------------------------

    /// <summary>Magnitude pruning as Wanda's repository does it: unstructured t = ascending(|W|)[⌊p·numel⌋]
    /// over the whole matrix, zero |W| ≤ t; N:M: the N smallest |W| per group per row.</summary>
    void MagnitudePrune(BackendMatrix weight, MaskRule rule);

    /// <summary>Wanda: metric |W|·sqrt(s); unstructured: zero exactly the ⌊p·cols⌋ smallest per row
    /// (stable ascending order); N:M: the N smallest per group per row.</summary>
    void WandaPrune(BackendMatrix weight, BackendVector statistic, MaskRule rule);
}
