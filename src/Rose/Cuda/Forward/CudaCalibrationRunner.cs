using System.Runtime.InteropServices;
using Rose.Modeling;
using Rose.Native;
using Rose.Pipeline;
using Rose.Pruning;
using Rose.SafeTensors;

namespace Rose.Cuda.Forward;

/// <summary>The calibration activations on the GPU: the residual stream of every window stays in
/// device memory (fp32) for the whole run, each layer runs forward over batches of windows, and
/// each linear's inputs are folded into its statistics straight from device memory, one GEMM
/// per batch of windows (k in order), without a round trip through the host. With offloading the states live
/// in pinned host memory instead and stream through the device one batch of windows at a time, for
/// calibration sets larger than the GPU.</summary>
public sealed unsafe class CudaCalibrationRunner : ICalibrationRunner
{
    private readonly LlamaModel _model;
    private readonly CudaBackend _backend;
    private readonly DType _dtype;
    private readonly ForwardKernels _kernels;
    private readonly CublasHandle _blas;
    private readonly CudaLayerForward _forward;
    private readonly DeviceBuffer<float>? _states;
    private readonly PinnedHostBuffer<float>? _hostStates;
    private readonly DeviceBuffer<float> _work;
    private readonly PinnedStaging _staging;
    private readonly int _batch;

    /// <summary>Device bytes besides the hidden states that one batch of windows may use.</summary>
    public const long ScratchBudgetBytes = 8L << 30;

    public CudaCalibrationRunner(LlamaModel model, int[][] windows, CudaBackend backend, bool offload = false)
    {
        _model = model;
        _backend = backend;
        Windows = windows.Length;
        SeqLen = windows.Length == 0 ? 0 : windows[0].Length;
        var context = backend.Context;
        _dtype = CudaPerplexityEvaluator.DTypeOf(model);
        var shape = model.Shape;
        long perWindow = CudaLayerForward.ScratchBytesPerToken(shape, _dtype) * SeqLen + (long)SeqLen * shape.Hidden * sizeof(float);
        _batch = (int)Math.Clamp(ScratchBudgetBytes / Math.Max(1, perWindow), 1, Math.Max(1, Windows));
        _kernels = new ForwardKernels(context);
        _blas = new CublasHandle(context);
        _staging = new PinnedStaging(context);
        _forward = new CudaLayerForward(context, _kernels, _blas, shape, model.Config.InverseFrequencies(), _dtype);
        long total = Math.Max(1, (long)Windows * SeqLen * shape.Hidden);
        if (offload) _hostStates = new PinnedHostBuffer<float>(context, total);
        else _states = DeviceBuffer<float>.Allocate(context, total);
        _work = DeviceBuffer<float>.Allocate(context, Math.Max(1, (long)_batch * SeqLen * shape.Hidden));
        var host = new float[SeqLen * shape.Hidden];
        for (int w = 0; w < Windows; w++)
        {
            model.Embed(windows[w], host);
            StoreWindows(w, 1, host);
        }
    }

    public bool Offloaded => _hostStates is not null;

    private long WindowValues => (long)SeqLen * _model.Shape.Hidden;

    /// <summary>Host view of windows [first, first + count) of the offloaded states.</summary>
    private Span<float> HostWindows(int first, int count) =>
        new(_hostStates!.Pointer + first * WindowValues, checked((int)(count * WindowValues)));

    private void StoreWindows(int first, int count, ReadOnlySpan<float> values)
    {
        if (_hostStates is not null) values.CopyTo(HostWindows(first, count));
        else _staging.Upload(values, _states!.PointerAt(first * WindowValues));
    }

    private void LoadWindows(int first, int count, Span<float> values)
    {
        if (_hostStates is not null) HostWindows(first, count).CopyTo(values);
        else _staging.Download(_states!.PointerAt(first * WindowValues), values);
    }

    /// <summary>Puts windows [first, first + count) into the work buffer (a copy: the dense pass must
    /// leave the states untouched, and offloaded states have to come to the device anyway).</summary>
    private void StageWindows(int first, int count)
    {
        if (_hostStates is not null) _work.CopyFrom(HostWindows(first, count));
        else _work.CopyFrom(_states!, first * WindowValues, 0, count * WindowValues);
    }

    public int Windows { get; }
    public int SeqLen { get; }

    /// <summary>Device bytes this runner needs for a model and calibration size (states, one batch's
    /// copy of them, and the forward's scratch).</summary>
    public static long DeviceBytes(ModelShape shape, DType dtype, int windows, int seqLen, bool offload = false)
    {
        long states = offload ? 0 : HostBytes(shape, windows, seqLen);
        long perWindow = CudaLayerForward.ScratchBytesPerToken(shape, dtype) * seqLen + (long)seqLen * shape.Hidden * sizeof(float);
        int batch = (int)Math.Clamp(ScratchBudgetBytes / Math.Max(1, perWindow), 1, Math.Max(1, windows));
        return states + batch * perWindow;
    }

    /// <summary>Bytes of the fp32 states themselves (pinned host memory when offloaded).</summary>
    public static long HostBytes(ModelShape shape, int windows, int seqLen) => (long)windows * seqLen * shape.Hidden * sizeof(float);

    public Dictionary<LinearInputGroup, LayerInputStatistics> CollectStatistics(DecoderLayerWeights layer, IPruningBackend backend)
    {
        if (!ReferenceEquals(backend, _backend))
            throw new ArgumentException("the device runner folds into the CUDA backend it was created with", nameof(backend));
        var shape = _model.Shape;
        var stats = new Dictionary<LinearInputGroup, LayerInputStatistics>
        {
            [LinearInputGroup.AttentionInput] = new(backend, shape.Hidden),
            [LinearInputGroup.AttentionOutput] = new(backend, shape.QDim),
            [LinearInputGroup.MlpInput] = new(backend, shape.Hidden),
            [LinearInputGroup.MlpHidden] = new(backend, shape.Intermediate),
        };
        using var weights = CudaLayerWeights.Upload(_backend.Context, layer, _dtype, _staging);
        for (int w0 = 0; w0 < Windows; w0 += _batch)
        {
            int count = Math.Min(_batch, Windows - w0);
            StageWindows(w0, count);
            _forward.Run(weights, _work.Pointer, count, SeqLen, (group, input, rows, cols) =>
            {
                stats[group].FoldManyWith(count, (s, k) =>
                    _backend.FoldWindowsOnDevice(s.Hessian, s.OfficialScale, s.MeanScale, input, _dtype, count, SeqLen, k));
            });
        }
        return stats;
    }

    public void Advance(DecoderLayerWeights layer)
    {
        using var weights = CudaLayerWeights.Upload(_backend.Context, layer, _dtype, _staging);
        for (int w0 = 0; w0 < Windows; w0 += _batch)
        {
            int count = Math.Min(_batch, Windows - w0);
            if (_states is not null)
            {
                _forward.Run(weights, _states.PointerAt(w0 * WindowValues), count, SeqLen);
                continue;
            }
            StageWindows(w0, count);
            _forward.Run(weights, _work.Pointer, count, SeqLen);
            _work.CopyTo(HostWindows(w0, count));
        }
    }

    /// <summary>Downloads the device states one window at a time, so the host needs one window's buffer.</summary>
    public void SaveStates(Stream stream)
    {
        int hidden = _model.Shape.Hidden;
        CalibrationStates.WriteHeader(stream, Windows, SeqLen, hidden);
        var host = new float[SeqLen * hidden];
        for (int w = 0; w < Windows; w++)
        {
            LoadWindows(w, 1, host);
            stream.Write(MemoryMarshal.AsBytes(host.AsSpan()));
        }
    }

    /// <summary>Uploads saved states one window at a time into the device buffer.</summary>
    public void LoadStates(Stream stream)
    {
        int hidden = _model.Shape.Hidden;
        CalibrationStates.ReadHeader(stream, Windows, SeqLen, hidden);
        var host = new float[SeqLen * hidden];
        for (int w = 0; w < Windows; w++)
        {
            CalibrationStates.ReadExactly(stream, MemoryMarshal.AsBytes(host.AsSpan()));
            StoreWindows(w, 1, host);
        }
    }

    public void Dispose()
    {
        _forward.Dispose();
        _staging.Dispose();
        _work.Dispose();
        _states?.Dispose();
        _hostStates?.Dispose();
        _blas.Dispose();
        _kernels.Dispose();
    }
}
