using System.Diagnostics;
using Rose.Data;
using Rose.Evaluation;
using Rose.Modeling;
using Rose.Native;
using Rose.SafeTensors;

namespace Rose.Cuda.Forward;

/// <summary>Perplexity on the GPU with the protocol of <see cref="PerplexityEvaluator"/> (text
/// tokenized once with BOS, ⌊tokens/seqlen⌋ non-overlapping windows, exp of the mean window loss).
/// Layer-outer over a batch of windows: each layer is widened, uploaded once per batch and freed,
/// so device memory holds one layer plus the batch's activations.</summary>
public sealed class CudaPerplexityEvaluator
{
    private readonly LlamaModel _model;
    private readonly CudaContext _context;

    public CudaPerplexityEvaluator(LlamaModel model, CudaContext context)
    {
        _model = model;
        _context = context;
    }

    /// <summary>Storage dtype of weights and GEMM inputs; null: the checkpoint's own (see <see cref="DTypeOf"/>).</summary>
    public DType? ComputeDType { get; init; }

    /// <summary>Most tokens (windows × seqlen) run through a layer at once; at least one window.</summary>
    public int BatchTokens { get; init; } = 16384;

    public KernelCompiler? Compiler { get; init; }

    /// <summary>The dtype a model's GEMMs and activations use on the device: its activation dtype, as on the CPU.</summary>
    public static DType DTypeOf(LlamaModel model) => model.ActivationDType;

    public PerplexityResult Evaluate(string text, int? seqLen = null, int? maxWindows = null, IProgress<ProgressUpdate>? progress = null) =>
        Evaluate(_model.Tokenizer.Encode(text, addBos: true), seqLen, maxWindows, progress);

    public PerplexityResult Evaluate(int[] tokens, int? seqLen = null, int? maxWindows = null, IProgress<ProgressUpdate>? progress = null)
    {
        int len = seqLen ?? Math.Min(2048, _model.Config.MaxPositionEmbeddings);
        if (len < 2) throw new RoseException($"--seqlen must be at least 2 (got {len})");
        var windows = CalibrationSampler.EvalWindows(tokens, len, maxWindows);
        if (windows.Length == 0)
            throw new RoseException($"the evaluation text has {tokens.Length} tokens, fewer than one window of {len}");
        foreach (var w in windows)
            foreach (int id in w)
                if ((uint)id >= (uint)_model.Config.VocabSize)
                    throw new RoseException($"token id {id} is outside the vocabulary of {_model.Config.VocabSize} ({_model.Directory})");

        var clock = Stopwatch.StartNew();
        var shape = _model.Shape;
        var dtype = ComputeDType ?? DTypeOf(_model);
        int batch = Math.Clamp(BatchTokens / len, 1, windows.Length);
        var losses = new double[windows.Length];
        int steps = windows.Length * (_model.LayerCount + 1), done = 0;

        _context.MakeCurrent();
        using var kernels = new ForwardKernels(_context, Compiler);
        using var blas = new CublasHandle(_context);
        blas.SetStream(null);
        using var forward = new CudaLayerForward(_context, kernels, blas, shape, _model.Config.InverseFrequencies(), dtype);
        using var head = CudaLanguageModelHead.Load(_model, _context, kernels, blas, dtype);
        using var table = DeviceLinear.Upload(_context, _model.Checkpoint.ReadFloat32(LlamaModel.EmbeddingName), dtype);
        using var hidden = DeviceBuffer<byte>.Allocate(_context, (long)batch * len * shape.Hidden * dtype.ElementSize());
        using var ids = DeviceBuffer<int>.Allocate(_context, (long)batch * len);

        for (int b0 = 0; b0 < windows.Length; b0 += batch)
        {
            int count = Math.Min(batch, windows.Length - b0);
            int rows = count * len;
            var flat = new int[rows];
            var targets = new int[rows];
            for (int w = 0; w < count; w++)
            {
                var window = windows[b0 + w];
                window.CopyTo(flat, w * len);
                for (int t = 0; t < len; t++) targets[w * len + t] = t + 1 < len ? window[t + 1] : -1;
            }
            ids.CopyFrom(flat);
            kernels.Embedding(dtype, hidden.Pointer, table.Pointer, ids.Pointer, rows, shape.Hidden, _model.Config.VocabSize);
            for (int layer = 0; layer < _model.LayerCount; layer++)
            {
                using (var weights = CudaLayerWeights.Upload(_context, _model.LoadLayer(layer), dtype))
                    forward.Run(weights, hidden, count, len);
                done += count;
                progress?.Report(new ProgressUpdate($"layer {layer + 1}/{_model.LayerCount}", done, steps));
            }
            var nll = head.TokenLosses(hidden, targets, rows);
            for (int w = 0; w < count; w++)
            {
                double sum = 0;
                for (int t = 0; t < len - 1; t++) sum += nll[w * len + t];
                losses[b0 + w] = sum / (len - 1);
            }
            done += count;
            progress?.Report(new ProgressUpdate("loss", done, steps));
        }
        double meanLoss = losses.Average();
        return new PerplexityResult(Math.Exp(meanLoss), windows.Length, tokens.Length, len, clock.Elapsed.TotalSeconds, meanLoss);
    }
}
