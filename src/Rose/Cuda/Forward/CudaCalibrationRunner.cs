using System.Runtime.InteropServices;
using Rose.Modeling;
using Rose.Native;
using Rose.Pipeline;
using Rose.Pruning;
using Rose.SafeTensors;

namespace Rose.Cuda.Forward;

/// <summary>The calibration activations on the GPU: the residual stream of every window stays in
/// device memory (fp32) for the whole run, each layer runs forward over batches of windows, and
/// each linear's inputs are folded into its statistics straight from device memory, window by
/// window in order k = 1..n, without a round trip through the host.</summary>
public sealed class CudaCalibrationRunner : ICalibrationRunner
{
    private readonly LlamaModel _model;
    private readonly CudaBackend _backend;
    private readonly DType _dtype;
    private readonly ForwardKernels _kernels;
    private readonly CublasHandle _blas;
    private readonly CudaLayerForward _forward;
    private readonly DeviceBuffer<float> _states;
    private readonly DeviceBuffer<float> _work;
    private readonly int _batch;

    /// <summary>Device bytes besides the hidden states that one batch of windows may use.</summary>
    public const long ScratchBudgetBytes = 8L << 30;

    public CudaCalibrationRunner(LlamaModel model, int[][] windows, CudaBackend backend)
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
        _forward = new CudaLayerForward(context, _kernels, _blas, shape, model.Config.InverseFrequencies(), _dtype);
        _states = DeviceBuffer<float>.Allocate(context, Math.Max(1, (long)Windows * SeqLen * shape.Hidden));
        _work = DeviceBuffer<float>.Allocate(context, Math.Max(1, (long)_batch * SeqLen * shape.Hidden));
        var host = new float[SeqLen * shape.Hidden];
        for (int w = 0; w < Windows; w++)
        {
            model.Embed(windows[w], host);
            _states.CopyFrom(host, (long)w * host.Length);
        }
    }

    public int Windows { get; }
    public int SeqLen { get; }

    /// <summary>Device bytes this runner needs for a model and calibration size (states, one batch's
    /// copy of them, and the forward's scratch).</summary>
    public static long DeviceBytes(ModelShape shape, DType dtype, int windows, int seqLen)
    {
        long states = (long)windows * seqLen * shape.Hidden * sizeof(float);
        long perWindow = CudaLayerForward.ScratchBytesPerToken(shape, dtype) * seqLen + (long)seqLen * shape.Hidden * sizeof(float);
        int batch = (int)Math.Clamp(ScratchBudgetBytes / Math.Max(1, perWindow), 1, Math.Max(1, windows));
        return states + batch * perWindow;
    }

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
        int element = _dtype.ElementSize();
        using var weights = CudaLayerWeights.Upload(_backend.Context, layer, _dtype);
        long windowValues = (long)SeqLen * shape.Hidden;
        for (int w0 = 0; w0 < Windows; w0 += _batch)
        {
            int count = Math.Min(_batch, Windows - w0);
            // The dense pass must leave the states untouched: run it on a copy.
            _work.CopyFrom(_states, w0 * windowValues, 0, count * windowValues);
            _forward.Run(weights, _work.Pointer, count, SeqLen, (group, input, rows, cols) =>
            {
                var target = stats[group];
                for (int i = 0; i < count; i++)
                {
                    var window = input.AddBytes((long)i * SeqLen * cols * element);
                    target.FoldWith((s, k) => _backend.FoldSequenceOnDevice(s.Hessian, s.OfficialScale, s.MeanScale, window, _dtype, SeqLen, k));
                }
            });
        }
        return stats;
    }

    public void Advance(DecoderLayerWeights layer)
    {
        using var weights = CudaLayerWeights.Upload(_backend.Context, layer, _dtype);
        long windowValues = (long)SeqLen * _model.Shape.Hidden;
        for (int w0 = 0; w0 < Windows; w0 += _batch)
        {
            int count = Math.Min(_batch, Windows - w0);
            _forward.Run(weights, _states.PointerAt(w0 * windowValues), count, SeqLen);
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
            _states.CopyTo(host, (long)w * host.Length);
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
            _states.CopyFrom(host, (long)w * host.Length);
        }
    }

    public void Dispose()
    {
        _forward.Dispose();
        _work.Dispose();
        _states.Dispose();
        _blas.Dispose();
        _kernels.Dispose();
    }
}
