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
/// → copy side files, write the report, rename the temporary folder into place. After a layer a
/// resume point is saved in the partial folder (spaced out in time when it carries the calibration
/// activations, and always on Ctrl+C or an error), so an interrupted run continues with --resume; a
/// layer's tensors are written while the next layer computes, and the next layer is read meanwhile.</summary>
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
        var seconds = new Dictionary<string, double> { ["load"] = 0, ["calibration"] = 0, ["forward"] = 0, ["statistics"] = 0, ["prune"] = 0, ["write"] = 0, ["resume_point"] = 0, ["eval"] = 0 };
        var clock = Stopwatch.StartNew();
        var memory = new MemoryPeaks(_backend is Cuda.CudaBackend device ? device.Context.MemoryInfo : null);
        // Synchronize so asynchronous device work is charged to the phase that issued it.
        void Lap(string phase) { _backend.Synchronize(); seconds[phase] += clock.Elapsed.TotalSeconds; memory.Sample(); clock.Restart(); }

        using var model = LlamaModel.Open(options.ModelDirectory);
        int seqLen = Math.Min(options.SeqLen, model.Config.MaxPositionEmbeddings);
        if (seqLen < options.SeqLen)
            _log.WriteLine($"calibration seqlen capped at max_position_embeddings = {seqLen}");
        var plan = CheckpointWriter.PlanLike(model.Checkpoint, name =>
        {
            var info = model.Checkpoint.GetInfo(name);
            return new TensorSpec(name, info.DType, info.Shape);
        });
        var fingerprint = RunFingerprint.Of(options, model, seqLen, plan, _backend.Name);
        using var output = OutputFolder.Begin(options.OutputDirectory, options.ModelDirectory, options.Force, options.Resume, _log);
        ResumePoint? resumed = null;
        if (options.Resume)
        {
            resumed = ResumePoint.Load(output.TempPath);
            RunFingerprint.EnsureSame(resumed.Fingerprint, fingerprint, output.TempPath);
            _log.WriteLine($"resuming after layer {resumed.CompletedLayers}/{model.LayerCount} from {output.TempPath}");
            foreach (var (phase, value) in resumed.Seconds)
                if (seconds.ContainsKey(phase)) seconds[phase] = value;
        }
        double secondsBefore = resumed?.Seconds.GetValueOrDefault("total") ?? 0;
        int start = resumed?.CompletedLayers ?? 0;
        bool needsStatistics = options.Prune.Method != PruneMethod.Magnitude;
        EnsureDiskSpace(model, options, output.TempPath, resumed is not null, start, needsStatistics ? seqLen : null);
        // Layers covered by the newest resume point this run can continue from (a resumed run counts its
        // point only once the shards and states reopened, so a broken point is not offered again).
        int saved = 0;
        // Saving the activations costs seconds per point at 7B (2 GiB in bf16), so points with them are spaced
        // out (PruneRunOptions.ResumeIntervalSeconds); an interruption or error always saves one.
        var sinceSave = Stopwatch.StartNew();
        double lastStatesSave = 0;
        Lap("load");

        try
        {
            double? pplBefore = null;
            int evalSeqLen = options.EvalSeqLen ?? Math.Min(2048, model.Config.MaxPositionEmbeddings);
            string? evalText = options.EvalPath is null ? null : TextCorpus.LoadWholeText(options.EvalPath);
            string? evalSetting = options.EvalPath is null ? null : $"{Path.GetFullPath(options.EvalPath)} seqlen {evalSeqLen}";
            if (evalText is not null && options.EvalBefore)
            {
                if (resumed?.PerplexityBefore is { } savedPpl && resumed.PerplexityBeforeSetting == evalSetting)
                    pplBefore = savedPpl;
                else
                {
                    pplBefore = Perplexity.Evaluate(model, _backend, evalText, evalSeqLen, progress: progress).Perplexity;
                    Lap("eval");
                }
                _log.WriteLine($"perplexity before pruning: {pplBefore:F4}");
            }

            // Sampling is seeded, so a resumed run rebuilds the same windows; only their states are restored.
            int[][] windows = needsStatistics ? SampleCalibration(model, options, seqLen) : [];
            long tokens = (long)windows.Length * seqLen;
            Lap("calibration");
            using ICalibrationRunner? runner = needsStatistics && start < model.LayerCount
                ? CalibrationRunners.Create(model, windows, _backend, _log, options.MemoryLimitBytes, options.OffloadActivations) : null;
            if (runner is not null && resumed is not null)
            {
                using var states = resumed.OpenActivations(output.TempPath);
                runner.LoadStates(states);
            }
            Lap("forward");

            var layerTensors = new HashSet<string>(StringComparer.Ordinal);
            for (int l = 0; l < model.LayerCount; l++)
                foreach (var name in TensorsOfLayer(model.Checkpoint, l))
                    layerTensors.Add(name);
            var otherTensors = model.Checkpoint.TensorNames.Where(n => !layerTensors.Contains(n)).ToArray();
            var matrices = resumed?.Matrices.ToList() ?? [];

            // Saves the point "layers 0..completed-1 written"; the runner's states must be the inputs of layer `completed`.
            void SaveResumePoint(CheckpointWriter writer, int completed)
            {
                writer.Flush();
                bool withStates = runner is not null && completed < model.LayerCount;
                var cost = Stopwatch.StartNew();
                var snapshot = new Dictionary<string, double>(seconds) { ["total"] = secondsBefore + total.Elapsed.TotalSeconds };
                new ResumePoint
                {
                    Fingerprint = fingerprint,
                    LayerCount = model.LayerCount,
                    CompletedLayers = completed,
                    HasActivations = withStates,
                    Matrices = matrices.Where(m => m.Layer < completed).ToArray(),
                    Seconds = snapshot,
                    PerplexityBefore = pplBefore,
                    PerplexityBeforeSetting = pplBefore is null ? null : evalSetting,
                }.Save(output.TempPath, withStates ? runner!.SaveStates : null);
                saved = completed;
                if (withStates) lastStatesSave = cost.Elapsed.TotalSeconds;
                sinceSave.Restart();
            }

            // Whether the point after `completed` layers is worth its cost now (see ResumeIntervalSeconds).
            bool ResumePointDue(int completed) =>
                runner is null || completed >= model.LayerCount
                || sinceSave.Elapsed.TotalSeconds >= Math.Max(options.ResumeIntervalSeconds, 10 * lastStatesSave);

            using (var writer = resumed is null
                ? new CheckpointWriter(output.TempPath, plan)
                : CheckpointWriter.OpenExisting(output.TempPath, plan,
                    otherTensors.Concat(Enumerable.Range(0, start).SelectMany(l => TensorsOfLayer(model.Checkpoint, l)))))
            {
                saved = start;
                if (resumed is null)
                {
                    foreach (var name in otherTensors)
                        CopyTensor(model.Checkpoint, writer, name);
                    Lap("write");
                }

                int steps = model.LayerCount * (LinearKinds.All.Length + 2), done = start * (LinearKinds.All.Length + 2);
                // At most one layer is written while the next computes, and the layer after is read meanwhile.
                Task? write = null;
                int writing = -1;
                Task<DecoderLayerWeights>? prefetch = null;

                // Waits for the layer in flight (charged to "write"), then saves the resume point after it when
                // one is due or forced (the runner's states are then the inputs of the layer after it).
                void FinishWrite(bool force = false)
                {
                    if (write is null) return;
                    var pending = write;
                    write = null;
                    pending.GetAwaiter().GetResult();
                    Lap("write");
                    if (force || ResumePointDue(writing + 1))
                    {
                        SaveResumePoint(writer, writing + 1);
                        Lap("resume_point");
                    }
                    progress?.Report(new ProgressUpdate($"layer {writing + 1}/{model.LayerCount} written", ++done, steps));
                }

                try
                {
                    for (int l = start; l < model.LayerCount; l++)
                    {
                        cancel.ThrowIfCancellationRequested();
                        string layerLabel = $"layer {l + 1}/{model.LayerCount}";
                        var layer = prefetch is null ? model.LoadLayer(l) : prefetch.GetAwaiter().GetResult();
                        prefetch = null;
                        if (l + 1 < model.LayerCount)
                        {
                            int next = l + 1;
                            prefetch = Task.Run(() => model.LoadLayer(next));
                        }
                        Lap("load");
                        Dictionary<LinearInputGroup, LayerInputStatistics>? stats = null;
                        if (runner is not null)
                        {
                            progress?.Report(new ProgressUpdate($"{layerLabel} calibration forward", done, steps));
                            stats = runner.CollectStatistics(layer, _backend);
                            Lap("statistics");
                            if (prefetch is not null) runner.Prefetch(prefetch);
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
                                // In place: the layer's dense weights are not needed once its statistics are folded. A device
                                // runner still holds the layer in the model's dtype: pruned there, it needs no upload.
                                // The last linear reading an input group's statistics may damp its Hessian in place.
                                var result = MatrixPruner.Prune(_backend, linear.Weight, linear.OutFeatures, linear.InFeatures,
                                    stats?[kind.InputGroup()], options.Prune, runner?.ResidentWeight(layer, kind), kind.IsLastReaderOfItsInput());
                                matrices.Add(new MatrixReport(name, l, kind.ModulePath(), [linear.OutFeatures, linear.InFeatures],
                                    result.Sparsity, result.Loss, result.RelativeRange, result.Reordered, result.DampUsed,
                                    result.NonPdEvents, result.IdentityFallback, result.DeadColumns, result.PhaseSeconds));
                                // Between matrices the layer still holds its statistics and shared factors, gone by the phase's
                                // end; a matrix's own working copies are gone too by now, so its prune's peak is not seen.
                                memory.Sample();
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

                        // The states still enter this layer, which is what the previous layer's resume point needs.
                        FinishWrite();
                        if (runner is not null && l + 1 < model.LayerCount)
                        {
                            progress?.Report(new ProgressUpdate($"{layerLabel} pruned forward", done, steps));
                            runner.Advance(layer);
                            Lap("forward");
                        }
                        int written = l;
                        // Each layer is forced to disk while the next one computes: otherwise the page cache holds
                        // gigabytes of it (13 GB for a 7B model) until the final flush, which then waits for all of it.
                        write = Task.Run(() =>
                        {
                            WriteLayer(model.Checkpoint, writer, layer, written);
                            writer.Flush();
                        });
                        writing = l;
                    }
                    FinishWrite();
                }
                catch
                {
                    // Background work must settle before the writer and the mapped input go away; a layer
                    // already being written still becomes a resume point (the states match it).
                    try { prefetch?.Wait(); }
                    catch (Exception) { /* the original failure is the one to report */ }
                    if (write is not null)
                    {
                        try { FinishWrite(force: true); }
                        catch (Exception) { /* the original failure is the one to report */ }
                    }
                    throw;
                }
                writer.Complete();
            }
            // The activations are done with: the device runner's states, batch copy and forward scratch
            // (gigabytes at 7B) must not sit beside the evaluation below. Disposing twice is harmless.
            runner?.Dispose();
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
            seconds["total"] = secondsBefore + total.Elapsed.TotalSeconds;
            var tflops = PhaseThroughput.Of(model.Shape, model.LayerCount, tokens, seqLen, seconds, matrices, options.Prune.BlockSize);
            var gbps = PhaseThroughput.Bandwidth(matrices, seconds);
            var peak = _backend is Cuda.CudaBackend cuda ? Cuda.DevicePeak.Of(cuda.Context) : null;
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
                ResumedFromLayer = resumed?.CompletedLayers,
                Seconds = seconds,
                ThroughputTflops = tflops,
                ThroughputGbps = gbps,
                Device = peak,
                PercentOfPeak = peak is null ? null : PercentOfPeak(peak, tflops, gbps, Cuda.Forward.CudaPerplexityEvaluator.DTypeOf(model)),
                Memory = memory.Report(),
            };
            report.Save(Path.Combine(output.TempPath, "rose-report.json"));
            output.Commit();
            return report;
        }
        catch (Exception e)
        {
            string kept = $"progress saved after layer {saved}/{model.LayerCount} in {output.TempPath}; rerun the same command with --resume";
            // The CLI prints a cancellation's message, so it says what was kept and how to continue.
            if (e is OperationCanceledException)
                throw new OperationCanceledException(saved > 0 ? kept
                    : output.HasResumePoint ? $"the progress saved in {output.TempPath} is unchanged" : "nothing was written to the output folder", e, cancel);
            if (saved > 0) _log.WriteLine(kept);
            throw;
        }
    }

    private static Dictionary<string, double> PercentOfPeak(Cuda.DevicePeak peak, Dictionary<string, double> tflops,
        Dictionary<string, double> gbps, SafeTensors.DType dtype)
    {
        var result = new Dictionary<string, double>();
        double? gemm = dtype == SafeTensors.DType.F32 ? peak.Fp32Tflops : peak.TensorTflops16;
        foreach (var (phase, value) in tflops)
            if (Cuda.DevicePeak.Percent(value, phase is "statistics" or "forward" ? gemm : peak.Fp32Tflops) is { } p)
                result[phase] = p;
        foreach (var (phase, value) in gbps)
            if (Cuda.DevicePeak.Percent(value, peak.MemoryGbps) is { } p)
                result[phase] = p;
        return result;
    }

    /// <summary>Prints the disk the run still needs where it writes and stops when less is free. Resume points carry
    /// activations of <paramref name="calibrationSeqLen"/> tokens a window where the method has calibration (sampling
    /// gives exactly NSamples windows or stops, so their size is known before it runs).</summary>
    private void EnsureDiskSpace(LlamaModel model, PruneRunOptions options, string folder, bool resumed, int start, int? calibrationSeqLen)
    {
        long activationBytes = calibrationSeqLen is { } seqLen && start < model.LayerCount
            ? CalibrationRunner.StateBytes(model.Shape, options.NSamples, seqLen, model.ActivationDType) : 0;
        var space = OutputSpace.Of(model, resumed, start, activationBytes);
        long? free = options.DiskLimitBytes ?? OutputSpace.FreeBytes(folder);
        _log.WriteLine($"disk needed: {ByteSize.Format(space.Needed)} in {folder}" + (free is { } f ? $"; free {ByteSize.Format(f)}" : ""));
        if (free is { } available && space.Shortfall(folder, available) is { } why)
            throw new RoseException(why);
    }

    internal static IEnumerable<string> TensorsOfLayer(Checkpoint input, int l) =>
        input.TensorNames.Where(n => n.StartsWith($"model.layers.{l}.", StringComparison.Ordinal));

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
        foreach (var name in TensorsOfLayer(input, l))
        {
            if (pruned.TryGetValue(name, out var kind)) writer.WriteFloat32(name, layer[kind].Weight);
            else CopyTensor(input, writer, name);
        }
    }
}
