using System.Diagnostics;
using Rose.Data;
using Rose.Modeling;

namespace Rose.Evaluation;

public sealed record PerplexityResult(double Perplexity, int Windows, int Tokens, int SeqLen, double Seconds, double MeanLoss);

/// <summary>Perplexity as the pruning papers measure it: the text tokenized once with BOS at the
/// start, ⌊tokens/seqlen⌋ non-overlapping windows, ppl = exp(mean of the windows' mean next-token
/// losses). Runs layer-outer over a batch of windows so each layer is widened to fp32 once per batch.</summary>
public sealed class PerplexityEvaluator
{
    private readonly LlamaModel _model;

    public PerplexityEvaluator(LlamaModel model) => _model = model;

    /// <summary>Hidden-state memory one batch of windows may take (bytes).</summary>
    public long BatchMemoryBytes { get; init; } = 2L << 30;

    public int DefaultSeqLen => Math.Min(2048, _model.Config.MaxPositionEmbeddings);

    public PerplexityResult Evaluate(string text, int? seqLen = null, int? maxWindows = null, IProgress<ProgressUpdate>? progress = null)
    {
        var tokens = _model.Tokenizer.Encode(text, addBos: true);
        return Evaluate(tokens, seqLen, maxWindows, progress);
    }

    public PerplexityResult Evaluate(int[] tokens, int? seqLen = null, int? maxWindows = null, IProgress<ProgressUpdate>? progress = null)
    {
        int len = seqLen ?? DefaultSeqLen;
        if (len < 2) throw new RoseException($"--seqlen must be at least 2 (got {len})");
        var windows = CalibrationSampler.EvalWindows(tokens, len, maxWindows);
        if (windows.Length == 0)
            throw new RoseException($"the evaluation text has {tokens.Length} tokens, fewer than one window of {len}");

        var clock = Stopwatch.StartNew();
        int hidden = _model.Shape.Hidden;
        int batch = (int)Math.Clamp(BatchMemoryBytes / ((long)len * hidden * sizeof(float)), 1, windows.Length);
        var losses = new double[windows.Length];
        var head = _model.LoadHead();
        var rounding = _model.ActivationDType;
        int steps = windows.Length * (_model.LayerCount + 1), done = 0;
        for (int b0 = 0; b0 < windows.Length; b0 += batch)
        {
            int count = Math.Min(batch, windows.Length - b0);
            var states = new float[count][];
            for (int w = 0; w < count; w++)
            {
                states[w] = new float[len * hidden];
                _model.Embed(windows[b0 + w], states[w]);
            }
            for (int layer = 0; layer < _model.LayerCount; layer++)
            {
                var weights = _model.LoadLayer(layer);
                bool perWindow = count >= Environment.ProcessorCount;
                Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = perWindow ? -1 : 1 },
                    () => new DecoderLayerForward(_model.Shape, _model.Rope) { ParallelInside = !perWindow, Rounding = rounding },
                    (w, _, forward) => { forward.Run(weights, states[w], len); return forward; }, _ => { });
                done += count;
                progress?.Report(new ProgressUpdate($"layer {layer + 1}/{_model.LayerCount}", done, steps));
            }
            Parallel.For(0, count, w => losses[b0 + w] = head.MeanNextTokenLoss(states[w], windows[b0 + w], len));
            done += count;
            progress?.Report(new ProgressUpdate("loss", done, steps));
        }
        double meanLoss = losses.Average();
        return new PerplexityResult(Math.Exp(meanLoss), windows.Length, tokens.Length, len, clock.Elapsed.TotalSeconds, meanLoss);
    }
}
