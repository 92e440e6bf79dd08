using System.Runtime.InteropServices;
using Rose.Modeling;
using Rose.Native;
using Rose.Pipeline;
using Rose.Pruning;
using Rose.SafeTensors;

namespace Rose.Cuda.Forward;

/// <summary>The calibration activations on the GPU: the residual stream of every window stays in
/// device memory, in the model's dtype as the reference keeps it, for the whole run; each layer
/// runs forward over batches of windows, and each linear's inputs are folded into its statistics
/// straight from device memory, one GEMM per batch of windows (k in order), without a round trip
/// through the host. With offloading the states live in pinned host memory instead and stream
/// through the device one batch of windows at a time, for calibration sets larger than the GPU.</summary>
public sealed unsafe class CudaCalibrationRunner : ICalibrationRunner
{
    private readonly LlamaModel _model;
    private readonly CudaBackend _backend;
    private readonly DType _dtype;
    private readonly ForwardKernels _kernels;
    private readonly CublasHandle _blas;
    private readonly CudaLayerForward _forward;
    private readonly DeviceBuffer<byte>? _states;
    private readonly PinnedHostBuffer<byte>? _hostStates;
    private readonly DeviceBuffer<byte> _work;
    private readonly PinnedStaging _staging;
    private readonly CudaStream _uploadStream;
    private readonly PinnedStaging _uploadStaging;
    private Task<(DecoderLayerWeights Layer, CudaLayerWeights Weights)>? _prefetched;
    private ResidentLayer? _resident;
    private readonly int _batch;

    /// <summary>Device bytes besides the hidden states that one batch of windows may use.</summary>
    public const long ScratchBudgetBytes = 8L << 30;

    /// <summary>The share of the device's memory a run plans for (the rest for the CUDA context, cuBLAS, and
    /// whatever else holds memory on it, a desktop's display say): below the 85% of free memory a run
    /// must fit, so the batch, chosen from the device's total memory, stays the same from run to run and a
    /// resumed run folds exactly as the one it continues.</summary>
    private const double PlannedShare = 0.75;

    public CudaCalibrationRunner(LlamaModel model, int[][] windows, CudaBackend backend, bool offload = false)
    {
        _model = model;
        _backend = backend;
        Windows = windows.Length;
        SeqLen = windows.Length == 0 ? 0 : windows[0].Length;
        var context = backend.Context;
        _dtype = CudaPerplexityEvaluator.DTypeOf(model);
        var shape = model.Shape;
        _batch = BatchWindows(shape, _dtype, Windows, SeqLen, backend.Context.MemoryInfo().Total);
        try
        {
            _kernels = new ForwardKernels(context);
            _blas = new CublasHandle(context);
            _staging = new PinnedStaging(context);
            // The next layer's weights go up on their own stream while this layer's pruning kernels run.
            _uploadStream = context.CreateStream(nonBlocking: true);
            _uploadStaging = new PinnedStaging(context, _uploadStream);
            _forward = new CudaLayerForward(context, _kernels, _blas, shape, model.Config.InverseFrequencies(), _dtype);
            long total = Math.Max(1, Windows * WindowBytes);
            if (offload) _hostStates = new PinnedHostBuffer<byte>(context, total);
            else _states = DeviceBuffer<byte>.Allocate(context, total);
            _work = DeviceBuffer<byte>.Allocate(context, Math.Max(1, _batch * WindowBytes));
            if (Windows > 0 && SeqLen > 0) EmbedOnDevice(windows);
        }
        catch
        {
            // Out of memory or a token outside the vocabulary: nobody gets this object to dispose, and
            // the pinned states alone can be gigabytes.
            Dispose();
            throw;
        }
    }

    /// <summary>The states start as the windows' embeddings, gathered on the device from the table
    /// uploaded once (as stored when it is in the compute dtype), a batch of windows at a time.</summary>
    private void EmbedOnDevice(int[][] windows)
    {
        var context = _backend.Context;
        int hidden = _model.Shape.Hidden, vocab = _model.Config.VocabSize;
        using var table = UploadEmbeddingTable(context);
        using var ids = DeviceBuffer<int>.Allocate(context, (long)_batch * SeqLen);
        var flat = new int[_batch * SeqLen];
        for (int w0 = 0; w0 < Windows; w0 += _batch)
        {
            int count = Math.Min(_batch, Windows - w0);
            for (int w = 0; w < count; w++)
            {
                var window = windows[w0 + w];
                if (window.Length != SeqLen) throw new ArgumentException($"window {w0 + w} has {window.Length} tokens, not {SeqLen}");
                foreach (int id in window)
                    if ((uint)id >= (uint)vocab)
                        throw new RoseException($"token id {id} is outside the vocabulary of {vocab} ({_model.Directory})");
                window.CopyTo(flat, w * SeqLen);
            }
            int rows = count * SeqLen;
            ids.CopyFrom(flat.AsSpan(0, rows));
            var target = _states is not null ? DeviceWindow(w0) : _work.Pointer;
            _kernels.Embedding(_dtype, target, table.Pointer, ids.Pointer, rows, hidden, vocab);
            if (_hostStates is not null) _work.CopyTo(HostWindows(w0, count));
        }
    }

    private DeviceBuffer<byte> UploadEmbeddingTable(CudaContext context)
    {
        var checkpoint = _model.Checkpoint;
        var info = checkpoint.GetInfo(LlamaModel.EmbeddingName);
        if (info.DType != _dtype)
            return DeviceLinear.Upload(context, checkpoint.ReadFloat32(LlamaModel.EmbeddingName), _dtype, _staging);
        long bytes = info.NumElements * _dtype.ElementSize();
        var table = DeviceBuffer<byte>.Allocate(context, bytes);
        try
        {
            byte* source = checkpoint.FileFor(LlamaModel.EmbeddingName).GetPointer(LlamaModel.EmbeddingName);
            _staging.Upload(bytes, table.Pointer, (offset, chunk) => new ReadOnlySpan<byte>(source + offset, chunk.Length).CopyTo(chunk));
            return table;
        }
        catch
        {
            table.Dispose();
            throw;
        }
    }

    public bool Offloaded => _hostStates is not null;

    /// <summary>Bytes of one window's hidden states in the model dtype.</summary>
    private long WindowBytes => (long)SeqLen * _model.Shape.Hidden * _dtype.ElementSize();

    /// <summary>Windows per forward batch: as many as <see cref="ScratchBudgetBytes"/> holds, fewer on a GPU
    /// whose <paramref name="deviceBytes"/> would not also hold the states and one layer's work, and at least
    /// one. A smaller batch only means more GEMMs of fewer rows. The states count whether or not they are
    /// offloaded: the batch sets the order of the fold's sums, and a run resumed with or without
    /// --offload-activations must fold as the run it continues.</summary>
    internal static int BatchWindows(ModelShape shape, DType dtype, int windows, int seqLen, long deviceBytes)
    {
        long perWindow = Math.Max(1, BatchBytesPerWindow(shape, dtype, seqLen));
        long fixedBytes = HostBytes(shape, dtype, windows, seqLen) + LayerWorkingBytes(shape, dtype);
        long budget = Math.Min(ScratchBudgetBytes, (long)(deviceBytes * PlannedShare) - fixedBytes);
        return (int)Math.Clamp(budget / perWindow, 1, Math.Max(1, windows));
    }

    /// <summary>One window's share of a batch: its copy of the states and the forward's scratch.</summary>
    private static long BatchBytesPerWindow(ModelShape shape, DType dtype, int seqLen) =>
        (CudaLayerForward.ScratchBytesPerToken(shape, dtype) + (long)shape.Hidden * dtype.ElementSize()) * seqLen;

    /// <summary>Host view of windows [first, first + count) of the offloaded states.</summary>
    private Span<byte> HostWindows(int first, int count) =>
        new(_hostStates!.Pointer + first * WindowBytes, checked((int)(count * WindowBytes)));

    /// <summary>Device address of window <paramref name="first"/>'s states (resident states only).</summary>
    private CUdeviceptr DeviceWindow(int first) => _states!.PointerAt(first * WindowBytes);

    /// <summary>Puts windows [first, first + count) into the work buffer (a copy: the dense pass must
    /// leave the states untouched, and offloaded states have to come to the device anyway).</summary>
    private void StageWindows(int first, int count)
    {
        if (_hostStates is not null) _work.CopyFrom(HostWindows(first, count));
        else _work.CopyFrom(_states!, first * WindowBytes, 0, count * WindowBytes);
    }

    public int Windows { get; }
    public int SeqLen { get; }

    /// <summary>Device bytes a device prune needs for a model and calibration size on a GPU of
    /// <paramref name="deviceBytes"/>: the states, one batch's copy of them and the forward's scratch, and
    /// <see cref="LayerWorkingBytes"/>.</summary>
    public static long DeviceBytes(ModelShape shape, DType dtype, int windows, int seqLen, long deviceBytes, bool offload = false)
    {
        long states = offload ? 0 : HostBytes(shape, dtype, windows, seqLen);
        return states + BatchWindows(shape, dtype, windows, seqLen, deviceBytes) * BatchBytesPerWindow(shape, dtype, seqLen)
            + LayerWorkingBytes(shape, dtype);
    }

    /// <summary>Device bytes of one layer's work besides the activations: its weights in the model dtype
    /// twice (the layer and the next one uploading), the four input groups' fp32 statistics, and the
    /// pruning of the widest matrix (W, its permuted copy and its scores; the permuted H, the factor, its
    /// scratch; keys and errors of one OBS block).</summary>
    public static long LayerWorkingBytes(ModelShape s, DType dtype) =>
        2 * LayerWorkingSet.WeightElements(s) * dtype.ElementSize() + LayerWorkingSet.StatisticsBytes(s)
        + LayerWorkingSet.PruningBytes(s, matrixCopies: 3, hessianCopies: 3);

    /// <summary>Bytes of the states themselves, in the model dtype (pinned host memory when offloaded).</summary>
    public static long HostBytes(ModelShape shape, DType dtype, int windows, int seqLen) =>
        (long)windows * seqLen * shape.Hidden * dtype.ElementSize();

    public Dictionary<LinearInputGroup, LayerInputStatistics> CollectStatistics(DecoderLayerWeights layer, IPruningBackend backend)
    {
        if (!ReferenceEquals(backend, _backend))
            throw new ArgumentException("the device runner folds into the CUDA backend it was created with", nameof(backend));
        var shape = _model.Shape;
        var stats = new Dictionary<LinearInputGroup, LayerInputStatistics>();
        try
        {
            // The caller owns them only once they are returned; a failure on the way frees them here.
            stats[LinearInputGroup.AttentionInput] = new(backend, shape.Hidden);
            stats[LinearInputGroup.AttentionOutput] = new(backend, shape.QDim);
            stats[LinearInputGroup.MlpInput] = new(backend, shape.Hidden);
            stats[LinearInputGroup.MlpHidden] = new(backend, shape.Intermediate);
            // The previous layer's copy goes before this one comes: at most this layer and the next one's
            // prefetch are resident.
            DropResident();
            var weights = TakePrefetched(layer) ?? CudaLayerWeights.Upload(_backend.Context, layer, _dtype, _staging);
            _resident = new ResidentLayer(layer, weights, _backend);
            for (int w0 = 0; w0 < Windows; w0 += _batch)
            {
                int count = Math.Min(_batch, Windows - w0);
                StageWindows(w0, count);
                _forward.Run(weights, _work.Pointer, count, SeqLen, (group, input, rows, cols) =>
                {
                    stats[group].FoldManyWith(count, (s, k) =>
                        _backend.FoldWindowsOnDevice(s.Hessian, s.OfficialScale, s.MeanScale, input, _dtype, count, SeqLen, k));
                }, inputsOnly: true);
            }
            return stats;
        }
        catch
        {
            foreach (var s in stats.Values) s.Dispose();
            throw;
        }
    }

    /// <summary>The linear as the statistics forward of <paramref name="layer"/> left it on the device; null
    /// when the checkpoint stores it in another dtype than the compute one (a mixed checkpoint), whose
    /// pruned values must reach the writer unrounded.</summary>
    public IResidentWeight? ResidentWeight(DecoderLayerWeights layer, LinearKind kind) =>
        _resident is { } r && ReferenceEquals(r.Layer, layer)
        && _model.Checkpoint.GetInfo(LinearKinds.WeightName(layer.Index, kind)).DType == _dtype
            ? r.Weight(kind) : null;

    private void DropResident()
    {
        var resident = _resident;
        _resident = null;
        resident?.Dispose();
    }

    public void Prefetch(Task<DecoderLayerWeights> next)
    {
        DiscardPrefetch();
        var context = _backend.Context;
        _prefetched = Task.Run(() =>
        {
            var layer = next.GetAwaiter().GetResult();
            return (layer, CudaLayerWeights.Upload(context, layer, _dtype, _uploadStaging));
        });
    }

    /// <summary>The prefetched upload when it is of <paramref name="layer"/> (waiting for it to finish), else null.
    /// A prefetch that failed (its allocation can lose a race for memory with the pruning it overlapped)
    /// is only a lost head start: null, and the caller uploads the layer itself, which reports any
    /// failure that persists.</summary>
    private CudaLayerWeights? TakePrefetched(DecoderLayerWeights layer)
    {
        if (_prefetched is null) return null;
        var pending = _prefetched;
        _prefetched = null;
        DecoderLayerWeights uploaded;
        CudaLayerWeights weights;
        try
        {
            (uploaded, weights) = pending.GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is CudaException or OutOfMemoryException)
        {
            return null;
        }
        if (ReferenceEquals(uploaded, layer)) return weights;
        weights.Dispose();
        return null;
    }

    private void DiscardPrefetch()
    {
        if (_prefetched is null) return;
        var pending = _prefetched;
        _prefetched = null;
        try
        {
            pending.GetAwaiter().GetResult().Weights.Dispose();
        }
        catch (Exception)
        {
            // A failed read or upload of a layer nobody uses any more; the pipeline reports its own failure.
        }
    }

    /// <summary>Runs from the resident copy when the whole layer was pruned through it, else uploads the host
    /// layer; either way no copy of the layer stays on the device afterwards.</summary>
    public void Advance(DecoderLayerWeights layer)
    {
        var resident = _resident is { } r && ReferenceEquals(r.Layer, layer) && r.MatchesPrunedLayer ? r : null;
        if (resident is null) DropResident();
        try
        {
            using var uploaded = resident is null ? CudaLayerWeights.Upload(_backend.Context, layer, _dtype, _staging) : null;
            var weights = resident?.Weights ?? uploaded!;
            for (int w0 = 0; w0 < Windows; w0 += _batch)
            {
                int count = Math.Min(_batch, Windows - w0);
                if (_states is not null)
                {
                    _forward.Run(weights, DeviceWindow(w0), count, SeqLen);
                    continue;
                }
                StageWindows(w0, count);
                _forward.Run(weights, _work.Pointer, count, SeqLen);
                _work.CopyTo(HostWindows(w0, count));
            }
        }
        finally
        {
            DropResident();
        }
    }

    /// <summary>Writes the states one window at a time as stored, in the model dtype (the format every
    /// runner saves), so the host needs one window's buffer.</summary>
    public void SaveStates(Stream stream)
    {
        CalibrationStates.WriteHeader(stream, Windows, SeqLen, _model.Shape.Hidden, _dtype);
        // One window's buffer for all windows (16 MB at 7B widths, 128 windows per resume point).
        var bytes = new byte[WindowBytes];
        for (int w = 0; w < Windows; w++)
        {
            if (_hostStates is not null) HostWindows(w, 1).CopyTo(bytes);
            else _staging.Download<byte>(DeviceWindow(w), bytes);
            stream.Write(bytes);
        }
    }

    public void LoadStates(Stream stream)
    {
        CalibrationStates.ReadHeader(stream, Windows, SeqLen, _model.Shape.Hidden, _dtype);
        var bytes = new byte[WindowBytes];
        for (int w = 0; w < Windows; w++)
        {
            CalibrationStates.ReadExactly(stream, bytes);
            if (_hostStates is not null) bytes.CopyTo(HostWindows(w, 1));
            else _staging.Upload<byte>(bytes, DeviceWindow(w));
        }
    }

    /// <summary>Idempotent; also frees what a constructor that failed part-way had allocated (fields not yet set are null).</summary>
    public void Dispose()
    {
        DiscardPrefetch();
        DropResident();
        _uploadStaging?.Dispose();
        _uploadStream?.Dispose();
        _forward?.Dispose();
        _staging?.Dispose();
        _work?.Dispose();
        _states?.Dispose();
        _hostStates?.Dispose();
        _blas?.Dispose();
        _kernels?.Dispose();
    }
}
