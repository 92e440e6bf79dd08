namespace Rose.Pruning;

/// <summary>Calibration statistics of one linear input group (q/k/v share one, gate/up share one),
/// held in the backend and folded one calibration sequence at a time (k = 1..n):
/// H ← H·(k−1)/k + (2/k)·XᵀX, s_official ← s_official·(k−1)/k + (2/k²)‖X[:,j]‖²,
/// s_mean ← s_mean·(k−1)/k + (1/k)‖X[:,j]‖². Pruning never modifies these (it works on copies),
/// so one instance serves every linear that reads the same input, and it keeps the factor of the damped H⁻¹
/// that the first SparseGPT prune made for the others (until the next fold or the last reader).</summary>
public sealed class LayerInputStatistics : IDisposable
{
    public LayerInputStatistics(IPruningBackend backend, int cols)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        Backend = backend;
        Columns = cols;
        Hessian = backend.Allocate(cols, cols);
        OfficialScale = backend.AllocateVector(cols);
        MeanScale = backend.AllocateVector(cols);
    }

    private LayerInputStatistics(IPruningBackend backend, int cols, BackendMatrix h, BackendVector so, BackendVector sm, int count)
    {
        Backend = backend;
        Columns = cols;
        Hessian = h;
        OfficialScale = so;
        MeanScale = sm;
        SampleCount = count;
    }

    /// <summary>Statistics given directly (tests, or a cache reloaded from disk).</summary>
    public static LayerInputStatistics FromHost(IPruningBackend backend, ReadOnlySpan<float> hessian,
        ReadOnlySpan<float> officialScale, ReadOnlySpan<float> meanScale, int cols, int sampleCount)
    {
        ArgumentNullException.ThrowIfNull(backend);
        if (hessian.Length != (long)cols * cols || officialScale.Length != cols || meanScale.Length != cols)
            throw new ArgumentException($"Statistics sizes {hessian.Length}/{officialScale.Length}/{meanScale.Length} do not fit {cols} columns.");
        return new LayerInputStatistics(backend, cols, backend.Upload(hessian, cols, cols),
            backend.UploadVector(officialScale), backend.UploadVector(meanScale), sampleCount);
    }

    public IPruningBackend Backend { get; }
    public int Columns { get; }

    /// <summary>Calibration sequences folded so far (n).</summary>
    public int SampleCount { get; private set; }

    public BackendMatrix Hessian { get; }
    public BackendVector OfficialScale { get; }
    public BackendVector MeanScale { get; }

    public BackendVector Scale(ScoreStatistic statistic) =>
        statistic == ScoreStatistic.Official ? OfficialScale : MeanScale;

    private ObsFactor? _sharedFactor;
    private double _sharedFactorDamp;

    /// <summary>The factor of the damped H⁻¹ (damping <paramref name="damp"/>) that an earlier prune of this input left
    /// for the other weights reading it, or null.</summary>
    internal ObsFactor? SharedFactor(double damp) => _sharedFactor is { } f && _sharedFactorDamp == damp ? f : null;

    /// <summary>Keeps <paramref name="factor"/> (now owned here) for the other weights reading this input.</summary>
    internal void Share(ObsFactor factor, double damp)
    {
        _sharedFactor?.Dispose();
        _sharedFactor = factor;
        _sharedFactorDamp = damp;
    }

    /// <summary>Frees the shared factor once no weight is left to read it.</summary>
    internal void ReleaseSharedFactor()
    {
        _sharedFactor?.Dispose();
        _sharedFactor = null;
    }

    /// <summary>Folds one calibration sequence, x = tokens × Columns row-major.</summary>
    public void Fold(ReadOnlySpan<float> x, int tokens)
    {
        ReleaseSharedFactor();
        Backend.FoldSequence(Hessian, OfficialScale, MeanScale, x, tokens, SampleCount + 1);
        SampleCount++;
    }

    /// <summary>Folds the next sequence through a backend-specific fold that receives this instance
    /// and k (the device pipeline folds activations that never leave the GPU).</summary>
    internal void FoldWith(Action<LayerInputStatistics, int> fold)
    {
        ReleaseSharedFactor();
        fold(this, SampleCount + 1);
        SampleCount++;
    }

    /// <summary>Folds the next <paramref name="count"/> sequences at once; <paramref name="fold"/> gets the
    /// 1-based index of the first of them.</summary>
    internal void FoldManyWith(int count, Action<LayerInputStatistics, int> fold)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ReleaseSharedFactor();
        fold(this, SampleCount + 1);
        SampleCount += count;
    }

    public float[] DownloadHessian()
    {
        var h = new float[(long)Columns * Columns];
        Backend.Download(Hessian, h);
        return h;
    }

    public float[] DownloadScale(ScoreStatistic statistic)
    {
        var s = new float[Columns];
        Backend.Download(Scale(statistic), s);
        return s;
    }

    public void Dispose()
    {
        ReleaseSharedFactor();
        Hessian.Dispose();
        OfficialScale.Dispose();
        MeanScale.Dispose();
    }
}
