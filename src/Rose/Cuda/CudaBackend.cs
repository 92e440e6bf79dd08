using Rose.SafeTensors;
using Rose.Native;
using Rose.Pruning;

namespace Rose.Cuda;

/// <summary>
/// <see cref="IPruningBackend"/> on one NVIDIA GPU: matrices live in device memory (row-major),
/// every kernel, cuBLAS and cuSOLVER call runs on one blocking stream, so the synchronous copies
/// of uploads and downloads (legacy default stream) are ordered with them without explicit waits.
/// Semantics are those of <see cref="Pruning.Cpu.CpuBackend"/>; masks come from bitwise the same
/// fp32 metrics, only sums (GEMMs, fp32 Cholesky) differ in rounding.
/// </summary>
public sealed class CudaBackend : IPruningBackend
{
    /// <summary>Dynamic shared memory a kernel may use without the opt-in attribute.</summary>
    private const int SharedMemoryLimit = 48 * 1024;
    private const int FlatBlock = 256;
    private const int SelectBlock = 1024;
    private const int ObsWarps = 8;

    private readonly bool _ownsContext;
    private readonly CudaStream _stream;
    private readonly CublasHandle _blas;
    private readonly CusolverHandle _solver;
    private readonly CudaKernels _kernels;
    private readonly DeviceScratch<float> _inputScratch;
    private readonly DeviceScratch<float> _floatScratch;
    private readonly DeviceScratch<double> _doubleScratch;
    private readonly DeviceScratch<int> _intScratch;
    private readonly DeviceScratch<byte> _byteScratch;
    private readonly DeviceScratch<uint> _keyScratch;
    private readonly DeviceScratch<float> _factorScratch;
    private readonly DeviceBuffer<uint> _selectState;
    private readonly PinnedStaging _staging;
    private bool _potriMissing;
    private bool _disposed;

    /// <param name="context">Device to run on; must be sm_80 or newer.</param>
    /// <param name="compiler">Kernel compiler (default: disk-cached under ~/.cache/rose/kernels).</param>
    /// <param name="ownsContext">Dispose the context with the backend.</param>
    public CudaBackend(CudaContext context, KernelCompiler? compiler = null, bool ownsContext = false)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.ComputeCapabilityMajor < 8)
            throw new RoseException($"GPU {context.Name} is sm_{context.ComputeCapabilityMajor}{context.ComputeCapabilityMinor}; the CUDA backend needs sm_80 or newer");
        Context = context;
        context.MakeCurrent();
        var created = new List<IDisposable>();
        try
        {
            _stream = context.CreateStream(nonBlocking: false);
            created.Add(_stream);
            _blas = new CublasHandle(context);
            created.Add(_blas);
            _blas.SetStream(_stream);
            _blas.SetMathMode(CublasMathMode.Default);
            _solver = new CusolverHandle(context);
            created.Add(_solver);
            _solver.SetStream(_stream);
            _kernels = new CudaKernels(context, compiler ?? new KernelCompiler());
        }
        catch
        {
            for (int i = created.Count - 1; i >= 0; i--) created[i].Dispose();
            throw;
        }
        _staging = new PinnedStaging(context, _stream);
        _inputScratch = new DeviceScratch<float>(context, _stream);
        _floatScratch = new DeviceScratch<float>(context, _stream);
        _doubleScratch = new DeviceScratch<double>(context, _stream);
        _intScratch = new DeviceScratch<int>(context, _stream);
        _byteScratch = new DeviceScratch<byte>(context, _stream);
        _keyScratch = new DeviceScratch<uint>(context, _stream);
        _factorScratch = new DeviceScratch<float>(context, _stream);
        _selectState = context.Allocate<uint>(SelectStateWords);
        _ownsContext = ownsContext;
    }

    /// <summary>Creates a backend on device <paramref name="ordinal"/> owning its context, or says why not.</summary>
    public static bool TryCreate(int ordinal, out CudaBackend? backend, out string why)
    {
        backend = null;
        if (!CudaDriver.TryInitialize(out why))
            return false;
        CudaContext? context = null;
        try
        {
            if (CudaDriver.DeviceCount <= ordinal)
            {
                why = CudaDriver.DeviceCount == 0 ? "the CUDA driver reports no device" : $"no CUDA device {ordinal}";
                return false;
            }
            foreach (var lib in new[] { CudaLibrarySearch.Cublas, CudaLibrarySearch.Cusolver, CudaLibrarySearch.Nvrtc })
            {
                if (!CudaLibraries.TryLoad(lib, out var libWhy))
                {
                    why = $"lib{lib}: {libWhy}";
                    return false;
                }
            }
            context = CudaContext.Create(ordinal);
            backend = new CudaBackend(context, ownsContext: true);
            why = "";
            return true;
        }
        catch (Exception e) when (e is CudaException or RoseException or DllNotFoundException or EntryPointNotFoundException)
        {
            context?.Dispose();
            why = e.Message.Split('\n')[0].Trim();
            return false;
        }
    }

    public string Name => "cuda";

    public CudaContext Context { get; }

    // ---- memory -------------------------------------------------------------------------

    public BackendMatrix Allocate(int rows, int cols)
    {
        var m = NewMatrix(rows, cols);
        if (m.Count > 0) m.Buffer.ClearAsync(_stream);
        return m;
    }

    public BackendMatrix Upload(ReadOnlySpan<float> data, int rows, int cols)
    {
        BackendContracts.Upload(data.Length, rows, cols);
        var m = NewMatrix(rows, cols);
        if (data.Length > 0) CopyIn(data, m.Buffer);
        return m;
    }

    public BackendVector AllocateVector(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var v = new CudaVector(Context.Allocate<float>(length));
        if (length > 0) v.Buffer.ClearAsync(_stream);
        return v;
    }

    public BackendVector UploadVector(ReadOnlySpan<float> data)
    {
        var v = new CudaVector(Context.Allocate<float>(data.Length));
        if (data.Length > 0) v.Buffer.CopyFrom(data);
        return v;
    }

    public void Download(BackendMatrix source, Span<float> destination)
    {
        var m = M(source);
        BackendContracts.MatrixDownload(destination.Length, m.Count);
        if (m.Count == 0) return;
        var target = destination[..checked((int)m.Count)];
        if (m.Count * sizeof(float) >= StagingThreshold) _staging.Download(m.Pointer, target);
        else m.Buffer.CopyTo(target);
    }

    public void Download(BackendVector source, Span<float> destination)
    {
        var v = V(source);
        BackendContracts.VectorDownload(destination.Length, v.Length);
        if (v.Length > 0) v.Buffer.CopyTo(destination[..v.Length]);
    }

    public BackendMatrix Clone(BackendMatrix source)
    {
        var s = M(source);
        var m = NewMatrix(s.Rows, s.Cols);
        if (s.Count > 0) m.Buffer.CopyFromAsync(s.Buffer, _stream);
        return m;
    }

    /// <summary>Copies larger than this go through the pinned staging chunks.</summary>
    private const long StagingThreshold = 4L << 20;

    private void CopyIn(ReadOnlySpan<float> data, DeviceBuffer<float> target)
    {
        if ((long)data.Length * sizeof(float) >= StagingThreshold) _staging.Upload(data, target.Pointer);
        else target.CopyFrom(data);
    }

    private CudaMatrix NewMatrix(int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        return new CudaMatrix(Context.Allocate<float>((long)rows * cols), rows, cols);
    }

    // ---- weights held on the device in the model's dtype ---------------------------------

    /// <summary>An fp32 working copy of the rows×cols tensor <paramref name="source"/> stored as
    /// <paramref name="dtype"/> (fp32, bf16 or fp16), widened on the device: a weight the forward
    /// already holds in the model's dtype is pruned without crossing PCIe.</summary>
    internal BackendMatrix Widen(DeviceBuffer<byte> source, DType dtype, int rows, int cols)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckStored(source, dtype, rows, cols);
        var m = NewMatrix(rows, cols);
        try
        {
            if (m.Count == 0) return m;
            if (dtype == DType.F32) m.Buffer.CopyFromAsync(source.Pointer, m.Count, _stream);
            else Launch("convert.cu", $"rose_widen_{Forward.ForwardKernels.Suffix(dtype)}", m.Count, source.Pointer, m.Pointer, m.Count);
            return m;
        }
        catch
        {
            m.Dispose();
            throw;
        }
    }

    /// <summary>Stores <paramref name="source"/> in the tensor <paramref name="destination"/> of
    /// <paramref name="dtype"/>, rounded to nearest even as the host's conversion rounds.</summary>
    internal void Narrow(BackendMatrix source, DeviceBuffer<byte> destination, DType dtype)
    {
        var m = M(source);
        CheckStored(destination, dtype, m.Rows, m.Cols);
        if (m.Count == 0) return;
        if (dtype == DType.F32) m.Buffer.CopyToAsync(destination.Pointer, m.Count, _stream);
        else Launch("convert.cu", $"rose_narrow_{Forward.ForwardKernels.Suffix(dtype)}", m.Count, m.Pointer, destination.Pointer, m.Count);
    }

    /// <summary>The values of the tensor <paramref name="source"/> of <paramref name="dtype"/> as fp32
    /// on the host (exact), in the backend's stream order: each pinned chunk is widened by all cores
    /// while the next one moves.</summary>
    internal unsafe void DownloadWidened(DeviceBuffer<byte> source, DType dtype, Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int size = dtype.ElementSize();
        if (source.SizeInBytes != (long)destination.Length * size)
            throw new ArgumentException($"a device tensor of {source.SizeInBytes} bytes is not {destination.Length} values of {dtype.ToSafeTensorsString()}");
        fixed (float* d = destination)
        {
            float* p = d;
            _staging.Download(source.Pointer, source.SizeInBytes, (offset, chunk) =>
                ParallelConversion.ToSingle(dtype, chunk, new Span<float>(p + offset / size, chunk.Length / size)));
        }
    }

    private static void CheckStored(DeviceBuffer<byte> tensor, DType dtype, int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        if (tensor.SizeInBytes != (long)rows * cols * dtype.ElementSize())
            throw new ArgumentException($"a device tensor of {tensor.SizeInBytes} bytes is not a {rows}×{cols} matrix of {dtype.ToSafeTensorsString()}");
    }

    // ---- calibration statistics ----------------------------------------------------------

    public void FoldSequence(BackendMatrix hessian, BackendVector sOfficial, BackendVector sMean,
        ReadOnlySpan<float> x, int tokens, int sequenceIndex)
    {
        var h = M(hessian);
        var so = V(sOfficial);
        var sm = V(sMean);
        int cols = h.Cols;
        BackendContracts.FoldInput(h.Rows, h.Cols, so.Length, sm.Length, x.Length, tokens, sequenceIndex);
        if (cols == 0) return;

        double k = sequenceIndex;
        double keep = (k - 1) / k;
        if (tokens == 0)
        {
            // An empty sequence only ages the running statistics (norms are zero).
            Launch("hessian.cu", "rose_scale", h.Count, h.Pointer, h.Count, (float)keep);
            FoldColumnNorms(_inputScratch.Get(1).Pointer, DType.F32, 1, 0, cols, so, sm, sequenceIndex);
            return;
        }

        var xs = _inputScratch.Get(x.Length);
        CopyIn(x, xs);
        FoldFloatInput(h, so, sm, xs.Pointer, tokens, sequenceIndex);
    }

    /// <summary>Folds calibration sequences k = <paramref name="firstIndex"/> .. firstIndex + windows − 1,
    /// stored back to back on this device (windows × tokens × cols, row-major, in <paramref name="dtype"/>),
    /// as one product: H ← H·(k0−1)/k1 + (2/k1)·Σ X_kᵀX_k — the same H as folding them one at a time up to
    /// the order of fp32 sums (products of bf16/fp16 values are exact in fp32). The column statistics
    /// are folded window by window in order, exactly as <see cref="FoldSequence"/> does.</summary>
    internal void FoldWindowsOnDevice(BackendMatrix hessian, BackendVector sOfficial, BackendVector sMean,
        CUdeviceptr x, DType dtype, int windows, int tokens, int firstIndex)
    {
        var h = M(hessian);
        var so = V(sOfficial);
        var sm = V(sMean);
        int cols = h.Cols;
        ArgumentOutOfRangeException.ThrowIfLessThan(windows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(firstIndex, 1);
        BackendContracts.FoldInput(h.Rows, h.Cols, so.Length, sm.Length, checked(tokens * cols), tokens, firstIndex);
        if (cols == 0 || tokens == 0) throw new ArgumentException("a device fold needs non-empty sequences");
        var type = dtype switch
        {
            DType.F32 => CudaDataType.R32F,
            DType.BF16 => CudaDataType.R16BF,
            DType.F16 => CudaDataType.R16F,
            _ => throw new ArgumentException($"cannot fold {dtype} activations"),
        };
        double last = firstIndex + windows - 1;
        float alpha = (float)(2.0 / last), beta = (float)((firstIndex - 1) / last);
        int k = checked(windows * tokens), element = dtype.ElementSize();
        // Row-major X (all windows' tokens × cols) is the column-major Xc = Xᵀ (cols × k, ld cols),
        // and H = Xc·Xcᵀ. H is symmetric, so only the column-major blocks (p, q ≥ p) of a panel
        // split are multiplied — the row-major blocks on and below the diagonal — and mirrored up.
        var panels = FoldPanels(cols);
        for (int p = 0; p < panels.Length - 1; p++)
            for (int q = p; q < panels.Length - 1; q++)
            {
                int r0 = panels[p], c0 = panels[q];
                _blas.GemmEx(CublasOperation.None, CublasOperation.Transpose, panels[p + 1] - r0, panels[q + 1] - c0, k,
                    alpha, x.AddBytes((long)r0 * element), type, cols, x.AddBytes((long)c0 * element), type, cols,
                    beta, h.Pointer.AddBytes(((long)c0 * cols + r0) * sizeof(float)), CudaDataType.R32F, cols);
            }
        Launch("hessian.cu", "rose_mirror_lower", h.Count, h.Pointer, cols);
        FoldColumnNorms(x, dtype, windows, tokens, cols, so, sm, firstIndex);
    }

    /// <summary>Panel boundaries for the symmetric fold: about 1024 columns each (at most 8 panels, so
    /// 36 of 64 blocks), starting at multiples of 8 so every operand stays 16-byte aligned.</summary>
    internal static int[] FoldPanels(int cols)
    {
        int count = Math.Clamp(cols / 1024, 1, 8);
        var bounds = new int[count + 1];
        for (int p = 1; p < count; p++) bounds[p] = (int)((long)cols * p / count) & ~7;
        bounds[count] = cols;
        return bounds;
    }

    /// <summary>s ← s·(k−1)/k + (2/k²)·‖X_k[:,j]‖² (and the mean) for each of the windows, k from <paramref name="firstIndex"/>.</summary>
    private void FoldColumnNorms(CUdeviceptr x, DType dtype, int windows, int tokens, int cols, CudaVector so, CudaVector sm, int firstIndex)
    {
        string kernel = "rose_column_norms_fold_windows_" + dtype switch { DType.F32 => "f32", DType.BF16 => "bf16", _ => "f16" };
        _kernels.Get("hessian.cu", kernel).Launch(Dim3.Cover(cols, 32), new Dim3(32, 16), 0, _stream,
            x, windows, tokens, cols, so.Pointer, sm.Pointer, firstIndex);
    }

    private void FoldFloatInput(CudaMatrix h, CudaVector so, CudaVector sm, CUdeviceptr xs, int tokens, int k)
    {
        int cols = h.Cols;
        double keep = (k - 1.0) / k;
        // Row-major X (tokens×cols) is the column-major matrix Xc = Xᵀ (cols×tokens, ld = cols),
        // so XᵀX = Xc·Xcᵀ: op(A) = Xc (N), op(B) = Xcᵀ (T). The product is symmetric, so the
        // row-major H buffer reads the same either way.
        _blas.Sgemm(CublasOperation.None, CublasOperation.Transpose, cols, cols, tokens,
            (float)(2.0 / k), xs, cols, xs, cols, (float)keep, h.Pointer, cols);
        // GEMM gives H[i,j] and H[j,i] from differently ordered sums; keep it exactly symmetric.
        Launch("hessian.cu", "rose_mirror_upper", h.Count, h.Pointer, cols);
        FoldColumnNorms(xs, DType.F32, 1, tokens, cols, so, sm, k);
    }

    // ---- Hessian preparation and factorization -------------------------------------------

    public HessianPreparation PrepareHessian(BackendMatrix hessian, BackendMatrix weight)
    {
        var h = M(hessian);
        var w = M(weight);
        int n = h.Cols;
        BackendContracts.HessianMatchesWeight(h.Rows, h.Cols, w.Cols);
        if (n == 0) return new HessianPreparation(0, 0);

        var dead = _byteScratch.Get(n);
        var sum = _doubleScratch.Get(1);
        var count = _intScratch.Get(1);
        _kernels.Get("cholesky.cu", "rose_prepare_diagonal").Launch(1, SelectBlock, 0, _stream,
            h.Pointer, n, dead.Pointer, sum.Pointer, count.Pointer);
        Span<double> sumHost = stackalloc double[1];
        Span<int> countHost = stackalloc int[1];
        sum.CopyTo(sumHost[..1]);
        count.CopyTo(countHost[..1]);
        if (countHost[0] > 0 && w.Count > 0)
            Launch("cholesky.cu", "rose_zero_dead_columns", w.Count, w.Pointer, w.Rows, w.Cols, dead.Pointer);
        return new HessianPreparation(sumHost[0] / n, countHost[0]);
    }

    public void AddDiagonal(BackendMatrix matrix, float value)
    {
        var m = M(matrix);
        int n = Math.Min(m.Rows, m.Cols);
        if (n == 0) return;
        Launch("cholesky.cu", "rose_add_diagonal", n, m.Pointer, n, m.Cols, value);
    }

    /// <summary>Factor through the reversed H and trtri (default) or through H⁻¹ as the official code
    /// does; turns itself off where cuSOLVER has no trtri. Tests compare the two.</summary>
    internal bool InverseByTrtri { get; set; } = true;

    public bool CholeskyInverseUpper(BackendMatrix hessian, BackendMatrix upper)
    {
        var h = M(hessian);
        var u = M(upper);
        int n = h.Rows;
        BackendContracts.CholeskyShapes(h.Rows, h.Cols, u.Rows, u.Cols);
        if (n == 0) return true;
        bool? viaReversed = InverseByTrtri ? CholeskyInverseUpperByReversal(h, u, n) : null;
        if (viaReversed is { } done) return done && AllFinite(u);
        return CholeskyInverseUpperByInverse(h, u, n) && AllFinite(u);
    }

    /// <summary>One factorization: J·H·J = L·Lᵀ (J reverses the order), L⁻¹ by trtri, and
    /// U = J·L⁻¹·J is upper with UᵀU = J·(J·H·J)⁻¹·J = H⁻¹ — the unique upper factor, so the same U
    /// as factoring H⁻¹ itself, for half the flop (n³/3 + n³/3 instead of n³/3 + 2n³/3 + n³/3).
    /// Null when this cuSOLVER has no trtri.</summary>
    private bool? CholeskyInverseUpperByReversal(CudaMatrix h, CudaMatrix u, int n)
    {
        var a = _factorScratch.Get(h.Count);
        Launch("cholesky.cu", "rose_reverse", h.Count, h.Pointer, a.Pointer, h.Count);
        // Row-major and column-major readings of the symmetric J·H·J agree; cuSOLVER's lower factor L
        // is column-major, and trtri replaces it by L⁻¹ in place.
        if (_solver.Spotrf(FillMode.Lower, n, a.Pointer, n) != 0) return false;
        int info;
        try
        {
            info = _solver.Strtri(FillMode.Lower, n, a.Pointer, n);
        }
        catch (CudaException e) when (e.StatusName == "ENTRY_POINT_NOT_FOUND")
        {
            InverseByTrtri = false;
            return null;
        }
        if (info != 0) return false;
        Launch("cholesky.cu", "rose_anti_transpose_upper", u.Count, a.Pointer, u.Pointer, n);
        return true;
    }

    /// <summary>fp32 factorizations can overflow where the host's double ones do not; never hand on inf/NaN.</summary>
    private bool AllFinite(CudaMatrix u)
    {
        var flag = _intScratch.Get(1);
        flag.ClearAsync(_stream);
        Launch("cholesky.cu", "rose_count_nonfinite", u.Count, u.Pointer, u.Count, flag.Pointer);
        Span<int> bad = stackalloc int[1];
        flag.CopyTo(bad[..1]);
        return bad[0] == 0;
    }

    /// <summary>The official route, for a cuSOLVER without trtri: factor H, invert it from the factor
    /// (potri, or potrs against I where potri is gone), factor H⁻¹.</summary>
    private bool CholeskyInverseUpperByInverse(CudaMatrix h, CudaMatrix u, int n)
    {
        // Row-major symmetric H is its own column-major image. cuSOLVER's column-major "lower"
        // triangle is the row-major upper one: potrf(L) gives H = LLᵀ, potri(L) leaves H⁻¹ in the
        // same triangle, and potrf(L) of H⁻¹ gives Lh with H⁻¹ = Lh·Lhᵀ, whose row-major reading
        // is Lhᵀ = U (upper) with UᵀU = H⁻¹, exactly the CPU's result. The other triangle keeps
        // stale values until it is zeroed at the end.
        u.Buffer.CopyFromAsync(h.Buffer, _stream);
        if (_solver.Spotrf(FillMode.Lower, n, u.Pointer, n) != 0) return false;
        int info = -1;
        if (!_potriMissing)
        {
            try
            {
                info = _solver.Spotri(FillMode.Lower, n, u.Pointer, n);
            }
            catch (CudaException e) when (e.StatusName == "ENTRY_POINT_NOT_FOUND")
            {
                _potriMissing = true;
            }
        }
        if (_potriMissing)
        {
            // potri was removed from this cuSOLVER: solve L·Lᵀ·X = I instead (X = H⁻¹ in full).
            using var factor = (CudaMatrix)Clone(u);
            SetIdentity(u);
            info = _solver.Spotrs(FillMode.Lower, n, n, factor.Pointer, n, u.Pointer, n);
        }
        if (info != 0) return false;
        if (_solver.Spotrf(FillMode.Lower, n, u.Pointer, n) != 0) return false;
        Launch("cholesky.cu", "rose_zero_strict_lower", u.Count, u.Pointer, n);
        return true;
    }

    public void SetIdentity(BackendMatrix matrix)
    {
        var m = M(matrix);
        if (m.Count == 0) return;
        Launch("cholesky.cu", "rose_set_identity", m.Count, m.Pointer, m.Rows, m.Cols);
    }

    // ---- scores and ROSE ordering --------------------------------------------------------

    public BackendMatrix Scores(BackendMatrix weight, BackendVector statistic)
    {
        var w = M(weight);
        var s = V(statistic);
        BackendContracts.StatisticMatchesWeight(s.Length, w.Cols);
        var result = NewMatrix(w.Rows, w.Cols);
        if (w.Count > 0)
            Launch("scores.cu", "rose_scores", w.Count, w.Pointer, s.Pointer, result.Pointer, w.Rows, w.Cols);
        return result;
    }

    public void OrderingLosses(BackendMatrix scores, int blockWidth, MaskRule rule,
        Span<double> columnLoss, Span<double> blockLoss)
    {
        var s = M(scores);
        int rows = s.Rows, cols = s.Cols;
        int blocks = BackendContracts.OrderingLosses(cols, blockWidth, columnLoss.Length, blockLoss.Length);
        if (cols == 0) return;
        if (rows == 0)
        {
            columnLoss.Clear();
            blockLoss.Clear();
            return;
        }

        var thresholds = _floatScratch.Get(blocks);
        int nmN = 0;
        if (rule.Pattern is { } nm)
        {
            nmN = nm.N;
        }
        else
        {
            int lastWidth = cols - (blocks - 1) * blockWidth;
            long kFull = MaskRule.ThresholdIndex(rule.Sparsity, (long)rows * blockWidth);
            long kLast = MaskRule.ThresholdIndex(rule.Sparsity, (long)rows * lastWidth);
            _kernels.Get("scores.cu", "rose_block_thresholds").Launch(blocks, SelectBlock, 0, _stream,
                s.Pointer, rows, cols, blockWidth, kFull, kLast, thresholds.Pointer);
        }
        var loss = _doubleScratch.Get(cols);
        _kernels.Get("scores.cu", "rose_ordering_column_loss").Launch(Dim3.Cover(cols, 32), new Dim3(32, 8), 0, _stream,
            s.Pointer, rows, cols, blockWidth, thresholds.Pointer, nmN, loss.Pointer);
        loss.CopyTo(columnLoss);
        // Block sums on the host in column order, as the reference adds them.
        for (int b = 0; b < blocks; b++)
        {
            int c0 = b * blockWidth, w = Math.Min(blockWidth, cols - c0);
            double total = 0;
            for (int j = 0; j < w; j++) total += columnLoss[c0 + j];
            blockLoss[b] = total;
        }
    }

    public void GatherColumns(BackendMatrix source, ReadOnlySpan<int> permutation, BackendMatrix destination)
    {
        var s = M(source);
        var d = M(destination);
        BackendContracts.GatherDestination(s, d);
        BackendContracts.Permutation(permutation, s.Cols);
        if (s.Count == 0) return;
        var perm = UploadPermutation(permutation);
        Launch("permute.cu", "rose_gather_columns", s.Count, s.Pointer, d.Pointer, perm.Pointer, s.Rows, s.Cols);
    }

    public BackendMatrix PermuteSymmetric(BackendMatrix source, ReadOnlySpan<int> permutation)
    {
        var s = M(source);
        BackendContracts.SymmetricSource(s.Rows, s.Cols);
        BackendContracts.Permutation(permutation, s.Cols);
        var d = NewMatrix(s.Rows, s.Cols);
        if (s.Count == 0) return d;
        var perm = UploadPermutation(permutation);
        Launch("permute.cu", "rose_permute_symmetric", s.Count, s.Pointer, d.Pointer, perm.Pointer, s.Cols);
        return d;
    }

    private DeviceBuffer<int> UploadPermutation(ReadOnlySpan<int> permutation)
    {
        var perm = _intScratch.Get(permutation.Length);
        perm.CopyFrom(permutation);
        return perm;
    }

    // ---- OBS (SparseGPT) -----------------------------------------------------------------

    public void ObsBlockSweep(BackendMatrix weight, BackendMatrix upper, int i1, int i2, MaskRule rule,
        BackendMatrix error, BackendVector rowLoss)
    {
        var w = M(weight);
        var u = M(upper);
        var e = M(error);
        var loss = V(rowLoss);
        int rows = w.Rows, cols = w.Cols, width = i2 - i1;
        BackendContracts.ObsBlock(rows, cols, u.Rows, u.Cols, e.Rows, e.Cols, loss.Length, i1, i2, rule);
        var nm = rule.Pattern;
        if (rows == 0) return;

        var threshold = _floatScratch.Get(1);
        if (nm is null)
        {
            long numel = (long)rows * width;
            long k = MaskRule.ThresholdIndex(rule.Sparsity, numel);
            if (k >= numel) threshold.Fill(float.PositiveInfinity, _stream);
            else
            {
                var keys = _keyScratch.Get(numel);
                _kernels.Get("obs.cu", "rose_obs_keys").Launch(new Dim3((uint)((width + 31) / 32), (uint)Math.Min((rows + 7) / 8, 4096)),
                    new Dim3(32, 8), 0, _stream, w.Pointer, cols, rows, u.Pointer, cols, i1, width, keys.Pointer);
                GridSelect(keys.Pointer, numel, k, threshold.Pointer);
            }
        }

        // Shared memory: U1's packed upper triangle when it fits, plus each warp's row and mask.
        long perWarp = (long)width * (sizeof(float) + 1);
        long triangle = (long)width * (width + 1) / 2 * sizeof(float);
        int warps = ObsWarps;
        int stageU = triangle + warps * perWarp + 16 <= SharedMemoryLimit ? 1 : 0;
        if (stageU == 0)
        {
            while (warps > 1 && warps * perWarp > SharedMemoryLimit) warps /= 2;
            if (warps * perWarp > SharedMemoryLimit)
                throw new NotSupportedException($"OBS block width {width} is too wide for the CUDA backend's shared memory (at most {SharedMemoryLimit / 5} columns).");
        }
        int shared = checked((int)((stageU == 1 ? triangle : 0) + warps * perWarp));
        int rowBlocks = (rows + warps - 1) / warps;
        int grid = Math.Max(1, Math.Min(rowBlocks, Context.MultiprocessorCount * 4));
        _kernels.Get("obs.cu", "rose_obs_sweep").Launch(grid, warps * 32, shared, _stream,
            w.Pointer, cols, rows, u.Pointer, cols, i1, width,
            nm?.N ?? 0, nm?.M ?? 0, threshold.Pointer, e.Pointer, e.Cols, loss.Pointer, stageU);
    }

    public void TrailingUpdate(BackendMatrix weight, BackendMatrix error, BackendMatrix upper, int i1, int i2)
    {
        var w = M(weight);
        var e = M(error);
        var u = M(upper);
        int cols = w.Cols, n = cols - i2, width = i2 - i1;
        if (n <= 0 || width <= 0 || w.Rows == 0) return;
        // Row-major W[:, i2:] (rows×n, ld cols) -= E (rows×width, ld e.Cols) · U[i1:i2, i2:] (width×n,
        // ld cols). In column-major terms that is Cᵀ -= Bᵀ·Aᵀ with every operand read untransposed:
        // Bᵀ = U block (n×width, ld cols), Aᵀ = E (width×rows, ld e.Cols), Cᵀ = W block (n×rows, ld cols).
        _blas.Sgemm(CublasOperation.None, CublasOperation.None, n, w.Rows, width,
            -1f, u.At(i1, i2), cols, e.Pointer, e.Cols, 1f, w.At(0, i2), cols);
    }

    // ---- one-shot masks ------------------------------------------------------------------

    public void MagnitudePrune(BackendMatrix weight, MaskRule rule)
    {
        var w = M(weight);
        if (w.Count == 0) return;
        if (rule.Pattern is { } nm)
        {
            PruneGroups(w, null, nm);
            return;
        }
        long numel = w.Count;
        long k = MaskRule.ThresholdIndex(rule.Sparsity, numel);
        if (k >= numel)
        {
            w.Buffer.ClearAsync(_stream);
            return;
        }
        var threshold = _floatScratch.Get(1);
        var keys = _keyScratch.Get(numel);
        Launch("masks.cu", "rose_abs_keys", numel, w.Pointer, numel, keys.Pointer);
        GridSelect(keys.Pointer, numel, k, threshold.Pointer);
        Launch("masks.cu", "rose_prune_abs_le", numel, w.Pointer, numel, threshold.Pointer);
    }

    public void WandaPrune(BackendMatrix weight, BackendVector statistic, MaskRule rule)
    {
        var w = M(weight);
        var s = V(statistic);
        BackendContracts.StatisticMatchesWeight(s.Length, w.Cols);
        if (w.Count == 0) return;
        if (rule.Pattern is { } nm)
        {
            PruneGroups(w, s, nm);
            return;
        }
        int count = (int)Math.Min(w.Cols, MaskRule.ThresholdIndex(rule.Sparsity, w.Cols));
        if (count <= 0) return;
        if (count >= w.Cols)
        {
            w.Buffer.ClearAsync(_stream);
            return;
        }
        _kernels.Get("masks.cu", "rose_wanda_rows").Launch(w.Rows, FlatBlock, 0, _stream,
            w.Pointer, s.Pointer, w.Rows, w.Cols, count);
    }

    private void PruneGroups(CudaMatrix w, CudaVector? statistic, NmPattern nm)
    {
        // The metric is read from an untouched copy so that zeroing cannot race with ranking.
        var source = _inputScratch.Get(w.Count);
        source.CopyFromAsync(w.Buffer, _stream);
        Launch("masks.cu", "rose_prune_groups", w.Count, w.Pointer, source.Pointer,
            statistic?.Pointer ?? CUdeviceptr.Null, statistic is null ? 0 : 1, w.Rows, w.Cols, nm.N, nm.M);
    }

    // ---- grid-wide selection -------------------------------------------------------------

    private const int SelectStateWords = 1028;

    /// <summary>ascending-sorted(values)[k] of <paramref name="count"/> order keys into
    /// <paramref name="result"/> (device), over every SM; 0 ≤ k &lt; count.</summary>
    private void GridSelect(CUdeviceptr keys, long count, long k, CUdeviceptr result)
    {
        if (k < 0 || k >= count) throw new ArgumentOutOfRangeException(nameof(k), $"rank {k} outside [0, {count})");
        _kernels.Get("grid_select.cu", "rose_grid_select_init").Launch(1, 256, 0, _stream, _selectState.Pointer, k);
        int grid = (int)Math.Clamp((count + 256 * 16 - 1) / (256 * 16), 1, Context.MultiprocessorCount * 8);
        var histogram = _kernels.Get("grid_select.cu", "rose_grid_histogram");
        var digit = _kernels.Get("grid_select.cu", "rose_grid_select_digit");
        for (int pass = 0; pass < 4; pass++)
        {
            histogram.Launch(grid, 256, 0, _stream, keys, count, _selectState.Pointer, pass);
            digit.Launch(1, 32, 0, _stream, _selectState.Pointer, pass, result);
        }
    }

    /// <summary>ascending-sorted(values)[k] by the grid-wide select (tests compare it with a sort).</summary>
    internal float KthSmallest(ReadOnlySpan<float> values, long k)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var data = _inputScratch.Get(values.Length);
        CopyIn(values, data);
        var keys = _keyScratch.Get(values.Length);
        Launch("grid_select.cu", "rose_float_keys", values.Length, data.Pointer, (long)values.Length, keys.Pointer);
        var result = _floatScratch.Get(1);
        GridSelect(keys.Pointer, values.Length, k, result.Pointer);
        Span<float> host = stackalloc float[1];
        result.CopyTo(host[..1]);
        return host[0];
    }

    // ---- plumbing ------------------------------------------------------------------------

    /// <summary>Launches a flat grid-stride kernel covering <paramref name="count"/> items.</summary>
    private void Launch(string file, string name, long count, params ReadOnlySpan<KernelArg> args)
    {
        long blocks = Math.Clamp((count + FlatBlock - 1) / FlatBlock, 1, 1 << 20);
        _kernels.Get(file, name).Launch((int)blocks, FlatBlock, 0, _stream, args);
    }

    /// <summary>Waits for every queued operation (timing, tests).</summary>
    public void Synchronize() => _stream.Synchronize();

    private CudaMatrix M(BackendMatrix m)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return BackendContracts.OwnMatrix<CudaMatrix>(m, "CUDA");
    }

    private CudaVector V(BackendVector v)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return BackendContracts.OwnVector<CudaVector>(v, "CUDA");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _inputScratch.Dispose();
        _floatScratch.Dispose();
        _doubleScratch.Dispose();
        _intScratch.Dispose();
        _byteScratch.Dispose();
        _keyScratch.Dispose();
        _factorScratch.Dispose();
        _selectState.Dispose();
        _staging.Dispose();
        _kernels.Dispose();
        _solver.Dispose();
        _blas.Dispose();
        _stream.Dispose();
        if (_ownsContext) Context.Dispose();
    }
}
