using System.Diagnostics;
using Rose.Data;
using Rose.Evaluation;
using Rose.Modeling;
using Rose.Pruning;
using Rose.SafeTensors;

namespace Rose.Pipeline;

/// <summary>The layer-wise one-shot pruning run (DESIGN.md data flow): embeddings of the calibration
/// windows → for each decoder layer: a dense forward folding every linear's input statistics, prune
/// every linear, a forward with the pruned weights to make the next layer's inputs, write the layer
/// → copy side files, write the report, rename the temporary folder into place.</summary>
public sealed class PruningPipeline
{
    private readonly IPruningBackend _backend;
    private readonly TextWriter _log;

    public PruningPipeline(IPruningBackend backend, TextWriter log)
    {
        _backend = backend;
        _log = log;
    }

    public PruneReport Run(PruneRunOptions options, IProgress<ProgressUpdate>? progress = null, CancellationToken cancel = default)
    {
        var total = Stopwatch.StartNew();
        var seconds = new Dictionary<string, double> { ["load"] = 0, ["calibration"] = 0, ["forward"] = 0, ["statistics"] = 0, ["prune"] = 0, ["write"] = 0, ["eval"] = 0 };
        var clock = Stopwatch.StartNew();
        // Synchronize so asynchronous device work is charged to the phase that issued it.
        void Lap(string phase) { _backend.Synchronize(); seconds[phase] += clock.Elapsed.TotalSeconds; clock.Restart(); }

        using var model = LlamaModel.Open(options.ModelDirectory);
        using var output = OutputFolder.Begin(options.OutputDirectory, options.ModelDirectory, options.Force);
        int seqLen = Math.Min(options.SeqLen, model.Config.MaxPositionEmbeddings);
        if (seqLen < options.SeqLen)
            _log.WriteLine($"calibration seqlen capped at max_position_embeddings = {seqLen}");
        Lap("load");

        double? pplBefore = null;
        int evalSeqLen = options.EvalSeqLen ?? Math.Min(2048, model.Config.MaxPositionEmbeddings);
        string? evalText = options.EvalPath is null ? null : TextCorpus.LoadWholeText(options.EvalPath);
        if (evalText is not null && options.EvalBefore)
        {
            pplBefore = Perplexity.Evaluate(model, _backend, evalText, evalSeqLen, progress: progress).Perplexity;
            _log.WriteLine($"perplexity before pruning: {pplBefore:F4}");
            Lap("eval");
        }

        bool needsStatistics = options.Prune.Method != PruneMethod.Magnitude;
        int[][] windows = needsStatistics ? SampleCalibration(model, options, seqLen) : [];
        long tokens = (long)windows.Length * seqLen;
        Lap("calibration");
        using ICalibrationRunner? runner = needsStatistics ? CalibrationRunners.Create(model, windows, _backend, _log, options.MemoryLimitBytes) : null;
        Lap("forward");

        var plan = CheckpointWriter.PlanLike(model.Checkpoint, name =>
        {
            var info = model.Checkpoint.GetInfo(name);
            return new TensorSpec(name, info.DType, info.Shape);
        });
        var matrices = new List<MatrixReport>();
        using (var writer = new CheckpointWriter(output.TempPath, plan))
        {
            var layerTensors = new HashSet<string>();
            for (int l = 0; l < model.LayerCount; l++)
                foreach (var name in model.Checkpoint.TensorNames.Where(n => n.StartsWith($"model.layers.{l}.", StringComparison.Ordinal)))
                    layerTensors.Add(name);
            foreach (var name in model.Checkpoint.TensorNames.Where(n => !layerTensors.Contains(n)))
                CopyTensor(model.Checkpoint, writer, name);
            Lap("write");

            int steps = model.LayerCount * (LinearKinds.All.Length + 2), done = 0;
            for (int l = 0; l < model.LayerCount; l++)
            {
                cancel.ThrowIfCancellationRequested();
                string layerLabel = $"layer {l + 1}/{model.LayerCount}";
                var layer = model.LoadLayer(l);
                Lap("load");
                Dictionary<LinearInputGroup, LayerInputStatistics>? stats = null;
                if (runner is not null)
                {
                    progress?.Report(new ProgressUpdate($"{layerLabel} calibration forward", done, steps));
                    stats = runner.CollectStatistics(layer, _backend);
                    Lap("statistics");
                }
                progress?.Report(new ProgressUpdate($"{layerLabel} statistics", ++done, steps));
                try
                {
                    foreach (var kind in LinearKinds.All)
                    {
                        cancel.ThrowIfCancellationRequested();
                        string name = LinearKinds.WeightName(l, kind);
                        progress?.Report(new ProgressUpdate($"{layerLabel} {kind.ModulePath()}", done, steps));
                        var linear = layer[kind];
                        var weight = (float[])linear.Weight.Clone();
                        var result = MatrixPruner.Prune(_backend, weight, linear.OutFeatures, linear.InFeatures,
                            stats?[kind.InputGroup()], options.Prune);
                        layer.ReplaceWeight(kind, weight);
                        matrices.Add(new MatrixReport(name, l, kind.ModulePath(), [linear.OutFeatures, linear.InFeatures],
                            result.Sparsity, result.Loss, result.RelativeRange, result.Reordered, result.DampUsed,
                            result.NonPdEvents, result.IdentityFallback, result.DeadColumns, result.PhaseSeconds));
                        if (result.IdentityFallback || result.NonPdEvents > 0)
                            _log.WriteLine($"{name}: Hessian not positive definite {result.NonPdEvents}× (damping used {result.DampUsed}{(result.IdentityFallback ? ", identity fallback" : "")})");
                        progress?.Report(new ProgressUpdate($"{layerLabel} {kind.ModulePath()}", ++done, steps));
                    }
                }
                finally
                {
                    if (stats is not null) foreach (var s in stats.Values) s.Dispose();
                }
                Lap("prune");

                if (runner is not null && l + 1 < model.LayerCount)
                {
                    progress?.Report(new ProgressUpdate($"{layerLabel} pruned forward", done, steps));
                    runner.Advance(layer);
                    Lap("forward");
                }
                WriteLayer(model.Checkpoint, writer, layer, l);
                progress?.Report(new ProgressUpdate($"{layerLabel} written", ++done, steps));
                Lap("write");
            }
            writer.Complete();
        }
        output.CopySideFiles(options.ModelDirectory);
        Lap("write");

        double? pplAfter = null;
        if (evalText is not null)
        {
            using var pruned = LlamaModel.Open(output.TempPath);
            pplAfter = Perplexity.Evaluate(pruned, _backend, evalText, evalSeqLen, progress: progress).Perplexity;
            _log.WriteLine($"perplexity after pruning: {pplAfter:F4}");
            Lap("eval");
        }

        long zeros = 0, numel = 0;
        foreach (var m in matrices)
        {
            long n = (long)m.Shape[0] * m.Shape[1];
            numel += n;
            zeros += (long)Math.Round(m.Sparsity * n);
        }
        foreach (var phase in MatrixPruner.PhaseNames)
            seconds["prune_" + phase] = matrices.Sum(m => m.Seconds.TryGetValue(phase, out var v) ? v : 0);
        seconds["total"] = total.Elapsed.TotalSeconds;
        var report = new PruneReport
        {
            CommandLine = options.CommandLine,
            Model = Path.GetFullPath(options.ModelDirectory),
            Output = output.FinalPath,
            Method = options.Prune.Method.ToString().ToLowerInvariant(),
            Sparsity = options.Prune.Sparsity,
            Pattern = options.Prune.Pattern?.ToString(),
            BlockSize = options.Prune.BlockSize,
            Damp = options.Prune.Damp,
            ScoreStat = options.Prune.Method is PruneMethod.Rose or PruneMethod.Wanda ? options.Prune.EffectiveScoreStat.ToString().ToLowerInvariant() : null,
            Backend = _backend.Name,
            Calibration = new CalibrationReport(needsStatistics ? Path.GetFullPath(options.CalibrationPath) : "",
                options.Sampling.ToString().ToLowerInvariant(), windows.Length, seqLen, options.Seed, tokens),
            Matrices = matrices,
            OverallSparsity = numel == 0 ? 0 : (double)zeros / numel,
            NonPdEvents = matrices.Sum(m => m.NonPdEvents),
            IdentityFallbacks = matrices.Count(m => m.IdentityFallback),
            ReorderedMatrices = matrices.Count(m => m.Reordered == true),
            PerplexityBefore = pplBefore,
            PerplexityAfter = pplAfter,
            EvalSeqLen = evalText is null ? null : evalSeqLen,
            Seconds = seconds,
        };
        report.Save(Path.Combine(output.TempPath, "rose-report.json"));
        output.Commit();
        return report;
    }

    private int[][] SampleCalibration(LlamaModel model, PruneRunOptions options, int seqLen)
    {
        if (options.Sampling == CalibrationSampling.Sequential)
        {
            var ids = model.Tokenizer.Encode(TextCorpus.LoadWholeText(options.CalibrationPath), addBos: true);
            return CalibrationSampler.Sequential(ids, options.NSamples, seqLen);
        }
        var documents = TextCorpus.LoadDocuments(options.CalibrationPath);
        return CalibrationSampler.Random(documents, text => model.Tokenizer.Encode(text, addBos: true), options.NSamples, seqLen, options.Seed);
    }

    /// <summary>Copies a tensor's bytes unchanged, in chunks so tensors over 2 GiB work too.</summary>
    private static void CopyTensor(Checkpoint input, CheckpointWriter writer, string name)
    {
        long length = input.GetInfo(name).ByteLength;
        const int chunk = 64 << 20;
        for (long offset = 0; offset < length; offset += chunk)
            writer.Write(name, offset, input.GetBytes(name, offset, (int)Math.Min(chunk, length - offset)));
        if (length == 0) writer.Write(name, ReadOnlySpan<byte>.Empty);
    }

    private static void WriteLayer(Checkpoint input, CheckpointWriter writer, DecoderLayerWeights layer, int l)
    {
        var pruned = LinearKinds.All.ToDictionary(k => LinearKinds.WeightName(l, k));
        foreach (var name in input.TensorNames.Where(n => n.StartsWith($"model.layers.{l}.", StringComparison.Ordinal)))
        {
            if (pruned.TryGetValue(name, out var kind)) writer.WriteFloat32(name, layer[kind].Weight);
            else CopyTensor(input, writer, name);
        }
    }
}
