using Rose.Modeling;
using Rose.Pruning;
using Rose.SafeTensors;

namespace Rose.Pipeline;

/// <summary>Holds the calibration windows' hidden states (the residual stream entering the current
/// layer) and moves them through the model one decoder layer at a time. Windows run forward in
/// parallel, but their inputs are folded into the statistics strictly in window order k = 1..n,
/// exactly as the reference folds one calibration sequence at a time. The states are kept in the
/// model's activation dtype (the values they hold: embeddings and rounded residual streams), so a
/// 16-bit model's take half the memory; each window is widened to fp32 only while it runs.</summary>
public sealed class CalibrationRunner : ICalibrationRunner
{
    private readonly LlamaModel _model;
    private readonly int[][] _windows;
    private readonly byte[][] _states;
    private readonly DType _rounding;

    public CalibrationRunner(LlamaModel model, int[][] windows)
    {
        _model = model;
        _windows = windows;
        _rounding = model.ActivationDType;
        SeqLen = windows.Length == 0 ? 0 : windows[0].Length;
        _states = new byte[windows.Length][];
        var embedded = new float[SeqLen * model.Shape.Hidden];
        for (int w = 0; w < windows.Length; w++)
        {
            _states[w] = new byte[(long)embedded.Length * _rounding.ElementSize()];
            model.Embed(windows[w], embedded);
            FloatConversion.FromSingle(_rounding, embedded, _states[w]);
        }
    }

    public int Windows => _windows.Length;
    public int SeqLen { get; }

    /// <summary>Bytes of hidden states a run of this size keeps resident, in <paramref name="dtype"/>
    /// (the model's activation dtype).</summary>
    public static long StateBytes(ModelShape shape, int windows, int seqLen, DType dtype) =>
        (long)windows * seqLen * shape.Hidden * dtype.ElementSize();

    /// <summary>Bytes one window's captured linear inputs take (all four input groups), with the fp32
    /// copy of its states the dense forward runs on.</summary>
    public static long CaptureBytes(ModelShape shape, int seqLen) =>
        (long)seqLen * (3L * shape.Hidden + shape.QDim + shape.Intermediate) * sizeof(float);

    /// <summary>Host bytes one layer's work holds besides the activations: its weights in fp32 and the next layer's,
    /// which load while it prunes, the statistics, and the widest prune (the weight pruned where it lies; ROSE's
    /// scores and permuted copy; the permuted or damped Hessian, the factor, and the factorization's
    /// double-precision lower triangle, as large again).</summary>
    public static long LayerWorkingBytes(ModelShape shape) =>
        2 * LayerWorkingSet.WeightElements(shape) * sizeof(float) + LayerWorkingSet.StatisticsBytes(shape)
        + LayerWorkingSet.PruningBytes(shape, matrixCopies: 2, hessianCopies: 3);

    /// <summary>How many windows the statistics pass runs side by side, each on one core: one per core as
    /// far as a quarter of <paramref name="availableBytes"/> (at least 1 GiB) holds their captured inputs.
    /// A 7B window captures 224 MB at 2048 tokens, so a fixed 1 GiB ran four at a time whatever the cores.</summary>
    public static int ParallelWindows(ModelShape shape, int seqLen, int windows, long availableBytes)
    {
        long budget = Math.Max(1L << 30, availableBytes / 4);
        long perWindow = Math.Max(1, CaptureBytes(shape, seqLen));
        return (int)Math.Clamp(budget / perWindow, 1, Math.Max(1, Math.Min(windows, Environment.ProcessorCount)));
    }

    /// <summary>Dense forward of <paramref name="layer"/> over every window (states unchanged),
    /// folding each linear input group into fresh statistics.</summary>
    public Dictionary<LinearInputGroup, LayerInputStatistics> CollectStatistics(DecoderLayerWeights layer, IPruningBackend backend)
    {
        var shape = _model.Shape;
        var stats = new Dictionary<LinearInputGroup, LayerInputStatistics>
        {
            [LinearInputGroup.AttentionInput] = new(backend, shape.Hidden),
            [LinearInputGroup.AttentionOutput] = new(backend, shape.QDim),
            [LinearInputGroup.MlpInput] = new(backend, shape.Hidden),
            [LinearInputGroup.MlpHidden] = new(backend, shape.Intermediate),
        };
        int chunk = ParallelWindows(shape, SeqLen, Windows, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);
        var captures = new CapturingObserver[chunk];
        for (int w0 = 0; w0 < Windows; w0 += chunk)
        {
            int count = Math.Min(chunk, Windows - w0);
            bool perWindow = count > 1;
            Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = perWindow ? -1 : 1 }, i =>
            {
                var observer = captures[i] ??= new CapturingObserver();
                var scratch = observer.Hidden ??= new float[SeqLen * shape.Hidden];
                FloatConversion.ToSingle(_rounding, _states[w0 + i], scratch);
                new DecoderLayerForward(shape, _model.Rope) { ParallelInside = !perWindow, Rounding = _rounding }.Run(layer, scratch, SeqLen, observer);
            });
            for (int i = 0; i < count; i++)
            {
                foreach (var (group, input) in captures[i].Inputs)
                    stats[group].Fold(input.AsSpan(0, SeqLen * stats[group].Columns), SeqLen);
            }
        }
        return stats;
    }

    /// <summary>Forward of <paramref name="layer"/> (pruned or not) over every window, in place:
    /// the states become the next layer's inputs. Pruned weights are first rounded in place to their
    /// checkpoint dtype: the reference stores them back into the model in that dtype before the next
    /// forward (the written output is the same either way).</summary>
    public void Advance(DecoderLayerWeights layer)
    {
        foreach (var kind in LinearKinds.All)
            RoundToStoredDType(_model.Checkpoint.GetInfo(LinearKinds.WeightName(layer.Index, kind)).DType, layer[kind].Weight);
        bool perWindow = Windows >= Environment.ProcessorCount;
        Parallel.For(0, Windows, new ParallelOptions { MaxDegreeOfParallelism = perWindow ? -1 : 1 },
            () => (Forward: new DecoderLayerForward(_model.Shape, _model.Rope) { ParallelInside = !perWindow, Rounding = _rounding },
                   Hidden: new float[SeqLen * _model.Shape.Hidden]),
            (w, _, local) =>
            {
                FloatConversion.ToSingle(_rounding, _states[w], local.Hidden);
                local.Forward.Run(layer, local.Hidden, SeqLen);
                // Exact: the forward rounds the residual stream to the activation dtype.
                FloatConversion.FromSingle(_rounding, local.Hidden, _states[w]);
                return local;
            }, _ => { });
    }

    private static void RoundToStoredDType(DType dtype, float[] weight)
    {
        if (dtype is not (DType.BF16 or DType.F16)) return;
        const int chunk = 1 << 20;
        Parallel.For(0, (weight.Length + chunk - 1) / chunk, c =>
            FloatRounding.RoundInPlace(dtype, weight.AsSpan(c * chunk, Math.Min(chunk, weight.Length - c * chunk))));
    }

    /// <summary>Writes the states as kept, in the activation dtype.</summary>
    public void SaveStates(Stream stream)
    {
        CalibrationStates.WriteHeader(stream, Windows, SeqLen, _model.Shape.Hidden, _rounding);
        foreach (var state in _states) stream.Write(state);
    }

    public void LoadStates(Stream stream)
    {
        CalibrationStates.ReadHeader(stream, Windows, SeqLen, _model.Shape.Hidden, _rounding);
        foreach (var state in _states) CalibrationStates.ReadExactly(stream, state);
    }

    public void Dispose() { }

    /// <summary>Keeps a copy of every linear group's input of one window's forward (and the fp32 copy of
    /// the window's states that forward runs on).</summary>
    private sealed class CapturingObserver : ILinearInputObserver
    {
        public Dictionary<LinearInputGroup, float[]> Inputs { get; } = new();
        public float[]? Hidden { get; set; }

        public void Observe(LinearInputGroup group, ReadOnlySpan<float> x, int tokens, int cols)
        {
            if (!Inputs.TryGetValue(group, out var buffer) || buffer.Length < x.Length)
                Inputs[group] = buffer = new float[x.Length];
            x.CopyTo(buffer);
        }
    }
}
