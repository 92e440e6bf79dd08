namespace Rose.Pruning;

/// <summary>The argument checks of <see cref="IPruningBackend"/> that do not depend on where the
/// data lives, so every backend rejects the same calls with the same exception and message.
/// Each method only throws; none touches data.</summary>
internal static class BackendContracts
{
    /// <summary>A backend's own matrix handle, or the error naming the handle's real type.</summary>
    public static TMatrix OwnMatrix<TMatrix>(BackendMatrix m, string backend) where TMatrix : BackendMatrix =>
        m as TMatrix ?? throw new ArgumentException($"Matrix handle of type {m.GetType().Name} does not belong to the {backend} backend.");

    /// <summary>A backend's own vector handle, or the error naming the handle's real type.</summary>
    public static TVector OwnVector<TVector>(BackendVector v, string backend) where TVector : BackendVector =>
        v as TVector ?? throw new ArgumentException($"Vector handle of type {v.GetType().Name} does not belong to the {backend} backend.");

    public static void Upload(int dataLength, int rows, int cols)
    {
        if (dataLength != (long)rows * cols)
            throw new ArgumentException($"Upload of {dataLength} values does not fit a {rows}×{cols} matrix.");
    }

    public static void MatrixDownload(int destinationLength, long matrixCount)
    {
        if (destinationLength < matrixCount)
            throw new ArgumentException($"Download destination holds {destinationLength} values, matrix has {matrixCount}.");
    }

    public static void VectorDownload(int destinationLength, int vectorLength)
    {
        if (destinationLength < vectorLength)
            throw new ArgumentException($"Download destination holds {destinationLength} values, vector has {vectorLength}.");
    }

    /// <summary>H must be cols×cols with both statistics of length cols, x tokens×cols, k ≥ 1.</summary>
    public static void FoldInput(int hRows, int hCols, int sOfficialLength, int sMeanLength,
        int xLength, int tokens, int sequenceIndex)
    {
        int cols = hCols;
        if (hRows != cols || sOfficialLength != cols || sMeanLength != cols)
            throw new ArgumentException($"Statistics shapes disagree: H {hRows}×{hCols}, s {sOfficialLength}/{sMeanLength}.");
        if (tokens < 0 || xLength != (long)tokens * cols)
            throw new ArgumentException($"Calibration input has {xLength} values, expected {tokens} tokens × {cols} columns.");
        // Same parameter name as IPruningBackend.FoldSequence's, so the exception names it.
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceIndex, 1);
    }

    public static void HessianMatchesWeight(int hRows, int hCols, int weightCols)
    {
        int n = hCols;
        if (hRows != n || weightCols != n)
            throw new ArgumentException($"Hessian {hRows}×{hCols} does not match weight columns {weightCols}.");
    }

    public static void CholeskyShapes(int hRows, int hCols, int uRows, int uCols)
    {
        int n = hRows;
        if (hCols != n || uRows != n || uCols != n)
            throw new ArgumentException($"Cholesky needs square matrices of one size: H {hRows}×{hCols}, U {uRows}×{uCols}.");
    }

    public static void StatisticMatchesWeight(int statisticLength, int weightCols)
    {
        if (statisticLength != weightCols)
            throw new ArgumentException($"Statistic length {statisticLength} does not match weight columns {weightCols}.");
    }

    /// <summary>Checks the block width and both loss buffers; returns the number of column blocks
    /// (the last one possibly partial).</summary>
    public static int OrderingLosses(int cols, int blockWidth, int columnLossLength, int blockLossLength)
    {
        // Same parameter name as IPruningBackend.OrderingLosses's, so the exception names it.
        ArgumentOutOfRangeException.ThrowIfLessThan(blockWidth, 1);
        int blocks = (cols + blockWidth - 1) / blockWidth;
        if (columnLossLength != cols || blockLossLength != blocks)
            throw new ArgumentException($"Loss buffers sized {columnLossLength}/{blockLossLength}, expected {cols}/{blocks}.");
        return blocks;
    }

    public static void GatherDestination(BackendMatrix source, BackendMatrix destination)
    {
        if (ReferenceEquals(source, destination) || destination.Rows != source.Rows || destination.Cols != source.Cols)
            throw new ArgumentException($"Gather destination {destination.Rows}×{destination.Cols} must be a distinct matrix shaped {source.Rows}×{source.Cols}.");
    }

    public static void SymmetricSource(int rows, int cols)
    {
        if (rows != cols) throw new ArgumentException($"Symmetric permutation needs a square matrix, got {rows}×{cols}.");
    }

    /// <summary>Every index of 0..n−1 exactly once.</summary>
    public static void Permutation(ReadOnlySpan<int> permutation, int n)
    {
        if (permutation.Length != n)
            throw new ArgumentException($"Permutation has {permutation.Length} entries, expected {n}.");
        var seen = new bool[n];
        foreach (int p in permutation)
        {
            if ((uint)p >= (uint)n || seen[p]) throw new ArgumentException($"Not a permutation of 0..{n - 1}: entry {p}.");
            seen[p] = true;
        }
    }

    /// <summary>The OBS sweep on columns [i1, i2) of a rows×cols W: U cols×cols, a non-empty block
    /// inside the matrix, E at least rows×(i2−i1), one loss per row, and an N:M block starting on
    /// a group boundary.</summary>
    public static void ObsBlock(int rows, int cols, int uRows, int uCols, int eRows, int eCols, int lossLength,
        int i1, int i2, MaskRule rule)
    {
        int width = i2 - i1;
        if (uRows != cols || uCols != cols) throw new ArgumentException($"U is {uRows}×{uCols}, expected {cols}×{cols}.");
        if (i1 < 0 || i2 > cols || width <= 0) throw new ArgumentException($"Block [{i1}, {i2}) is outside 0..{cols}.");
        if (eRows != rows || eCols < width) throw new ArgumentException($"Error buffer {eRows}×{eCols} too small for {rows}×{width}.");
        if (lossLength != rows) throw new ArgumentException($"Row loss has {lossLength} entries, expected {rows}.");
        if (rule.Pattern is { } p && i1 % p.M != 0)
            throw new ArgumentException($"N:M block start {i1} is not a multiple of M = {p.M}.");
    }
}
