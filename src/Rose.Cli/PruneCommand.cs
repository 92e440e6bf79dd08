using System.CommandLine;
using System.Text.Json;
using Rose.Pipeline;
using Rose.Pruning;

namespace Rose.Cli;

/// <summary>Options shared by prune and prune-layer: what to prune and how.</summary>
public sealed class PruneMethodOptions
{
    public Option<string> Method { get; } = new("--method") { Description = "rose | sparsegpt | wanda | magnitude", Required = true };
    public Option<double?> Sparsity { get; } = new("--sparsity") { Description = "fraction of weights to prune, e.g. 0.5 (unstructured)" };
    public Option<string?> Pattern { get; } = new("--pattern") { Description = "N:M semi-structured sparsity, N pruned of every M (e.g. 2:4)" };
    public Option<int> BlockSize { get; } = new("--blocksize") { Description = "column block size of SparseGPT / ROSE", DefaultValueFactory = _ => 128 };
    public Option<double> Damp { get; } = new("--damp") { Description = "Hessian damping, as a fraction of mean(diag H)", DefaultValueFactory = _ => 0.01 };
    public Option<string?> ScoreStat { get; } = new("--score-stat") { Description = "activation statistic of |W|·sqrt(s): official (ROSE default) | mean (Wanda default)" };

    public IEnumerable<Option> All => [Method, Sparsity, Pattern, BlockSize, Damp, ScoreStat];

    public PruneOptions Parse(ParseResult parse)
    {
        var method = parse.GetValue(Method)!.ToLowerInvariant() switch
        {
            "rose" => PruneMethod.Rose,
            "sparsegpt" => PruneMethod.SparseGpt,
            "wanda" => PruneMethod.Wanda,
            "magnitude" => PruneMethod.Magnitude,
            var other => throw new RoseException($"--method '{other}' is not one of rose, sparsegpt, wanda, magnitude"),
        };
        double? sparsity = parse.GetValue(Sparsity);
        string? patternText = parse.GetValue(Pattern);
        if (sparsity.HasValue == (patternText is not null))
            throw new RoseException("give exactly one of --sparsity P or --pattern N:M");
        NmPattern? pattern = null;
        if (patternText is not null)
        {
            try { pattern = NmPattern.Parse(patternText); }
            catch (Exception e) when (e is FormatException or ArgumentException) { throw new RoseException($"--pattern: {e.Message}"); }
        }
        if (sparsity is { } p && !(p >= 0 && p < 1))
            throw new RoseException($"--sparsity must be in [0, 1) (got {p})");
        int block = parse.GetValue(BlockSize);
        if (block < 1) throw new RoseException($"--blocksize must be positive (got {block})");
        double damp = parse.GetValue(Damp);
        if (!(damp >= 0)) throw new RoseException($"--damp must be non-negative (got {damp})");
        ScoreStatistic? stat = parse.GetValue(ScoreStat)?.ToLowerInvariant() switch
        {
            null => null,
            "official" => ScoreStatistic.Official,
            "mean" => ScoreStatistic.Mean,
            var other => throw new RoseException($"--score-stat '{other}' is not official or mean"),
        };
        return new PruneOptions(method, pattern is { } nm ? (double)nm.N / nm.M : sparsity!.Value, pattern, block, damp, stat);
    }
}

public static class PruneCommand
{
    public static Command Create(TextWriter stdout)
    {
        var methodOptions = new PruneMethodOptions();
        var model = new Option<string?>("--model") { Description = "HF checkpoint folder (default: the bundled sample)" };
        var output = new Option<string>("--out") { Description = "output folder (written into .<name>.rose-partial beside it, renamed when complete)", Required = true };
        var calib = new Option<string?>("--calib") { Description = "calibration text (.txt, .jsonl, .json(.gz), .parquet); default with the sample: its calibration slice" };
        var nsamples = new Option<int?>("--nsamples") { Description = "calibration sequences (default 128; 64 with the bundled sample)" };
        var seqlen = new Option<int>("--seqlen") { Description = "calibration sequence length (capped at max_position_embeddings)", DefaultValueFactory = _ => 2048 };
        var sampling = new Option<string?>("--calib-sampling") { Description = "random (C4 protocol: random crops of random long documents; the default) | sequential (first windows of the whole text; the default with the bundled sample, whose stories are shorter than a window)" };
        var seed = new Option<int>("--seed") { Description = "seed of random calibration sampling", DefaultValueFactory = _ => 0 };
        var offload = new Option<bool>("--offload-activations") { Description = "with --device cuda: keep the calibration activations in pinned host memory and stream them through the GPU (for calibration sets larger than the GPU)" };
        var force = new Option<bool>("--force") { Description = "replace --out if it exists" };
        var resume = new Option<bool>("--resume") { Description = "continue an interrupted run from the progress saved beside --out (same settings required)" };
        var resumeInterval = new Option<double>("--resume-interval") { Description = "seconds between resume points that save the calibration activations (0: after every layer; Ctrl+C and errors always save one)", DefaultValueFactory = _ => 60 };
        var eval = new Option<string?>("--eval") { Description = "measure perplexity on this text before and after pruning" };
        var evalSeqLen = new Option<int?>("--eval-seqlen") { Description = "perplexity window (default min(2048, max_position_embeddings))" };
        var device = DeviceOption.Create();
        var json = new Option<bool>("--json") { Description = "print a JSON summary as the last stdout line" };
        var command = new Command("prune", "Prune every linear layer of a HF checkpoint, layer by layer, into a new checkpoint");
        foreach (var o in methodOptions.All) command.Options.Add(o);
        foreach (var o in new Option[] { model, output, calib, nsamples, seqlen, sampling, seed, offload, force, resume, resumeInterval, eval, evalSeqLen, device, json }) command.Options.Add(o);

        command.SetAction(parse => CommandGuard.Run(() =>
        {
            var prune = methodOptions.Parse(parse);
            bool sample = parse.GetValue(model) is null;
            string? calibPath = parse.GetValue(calib) ?? (sample ? BundledSample.CalibrationText : null);
            if (calibPath is null && prune.Method != PruneMethod.Magnitude)
                throw new RoseException($"--calib is required for --method {parse.GetValue(methodOptions.Method)}");
            var options = new PruneRunOptions
            {
                ModelDirectory = parse.GetValue(model) ?? BundledSample.ModelDirectory,
                OutputDirectory = parse.GetValue(output)!,
                Prune = prune,
                CalibrationPath = calibPath ?? "",
                NSamples = Positive(parse.GetValue(nsamples) ?? (sample ? 64 : 128), "--nsamples"),
                SeqLen = Positive(parse.GetValue(seqlen), "--seqlen"),
                Sampling = (parse.GetValue(sampling) ?? (sample ? "sequential" : "random")).ToLowerInvariant() switch
                {
                    "random" => CalibrationSampling.Random,
                    "sequential" => CalibrationSampling.Sequential,
                    var other => throw new RoseException($"--calib-sampling '{other}' is not random or sequential"),
                },
                Seed = parse.GetValue(seed),
                Force = parse.GetValue(force),
                OffloadActivations = parse.GetValue(offload),
                Resume = parse.GetValue(resume),
                ResumeIntervalSeconds = parse.GetValue(resumeInterval) is var interval && interval >= 0 && double.IsFinite(interval)
                    ? interval : throw new RoseException($"--resume-interval must be a number of seconds ≥ 0 (got {parse.GetValue(resumeInterval)})"),
                EvalPath = parse.GetValue(eval),
                EvalSeqLen = parse.GetValue(evalSeqLen),
                CommandLine = "rose " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
            };
            using var backend = DeviceOption.Backend(parse, device);
            PruneReport report;
            using var interrupt = InterruptSignal.Install();
            using (var progress = new ConsoleProgress("prune"))
                report = new PruningPipeline(backend, Console.Error).Run(options, progress, interrupt.Token);
            stdout.WriteLine($"wrote {report.Output}: {report.Method} {(report.Pattern ?? report.Sparsity.ToString("0.###"))}, overall sparsity {report.OverallSparsity:P2}, {report.Seconds["total"]:F1} s");
            if (report.PerplexityAfter is { } after)
                stdout.WriteLine($"perplexity {report.PerplexityBefore:F4} → {after:F4} (seqlen {report.EvalSeqLen})");
            if (report.ThroughputTflops is { Count: > 0 } || report.ThroughputGbps is { Count: > 0 })
                stdout.WriteLine("throughput: " + ThroughputSummary(report));
            if (MemorySummary(report.Memory) is { } memory)
                stdout.WriteLine("memory: " + memory);
            if (parse.GetValue(json))
                stdout.WriteLine(JsonSerializer.Serialize(new
                {
                    output = report.Output,
                    method = report.Method,
                    sparsity = report.Sparsity,
                    pattern = report.Pattern,
                    overall_sparsity = report.OverallSparsity,
                    reordered_matrices = report.ReorderedMatrices,
                    non_pd_events = report.NonPdEvents,
                    perplexity_before = report.PerplexityBefore,
                    perplexity_after = report.PerplexityAfter,
                    seconds = report.Seconds["total"],
                    throughput_tflops = report.ThroughputTflops,
                    throughput_gbps = report.ThroughputGbps,
                    percent_of_peak = report.PercentOfPeak,
                }));
            return 0;
        }));
        return command;
    }

    /// <summary>"statistics 512 TFLOP/s (48% of peak), …" for every measured phase.</summary>
    private static string ThroughputSummary(PruneReport report)
    {
        string Part(string phase, double value, string unit) =>
            $"{phase} {value:G3} {unit}" + (report.PercentOfPeak?.TryGetValue(phase, out var p) == true ? $" ({p:F0}% of peak)" : "");
        var parts = (report.ThroughputTflops ?? new Dictionary<string, double>()).Select(t => Part(t.Key, t.Value, "TFLOP/s"))
            .Concat((report.ThroughputGbps ?? new Dictionary<string, double>()).Select(t => Part(t.Key, t.Value, "GB/s")));
        return string.Join(", ", parts);
    }

    /// <summary>"host peak 1.50 GiB resident (1.00 GiB anonymous, 512.0 MiB mapped files at most); GPU 2.00 GiB in use at most;
    /// GC pauses 0.12 s (3 full collections)", or null without a report.</summary>
    internal static string? MemorySummary(MemoryReport? memory)
    {
        if (memory is null) return null;
        static string Size(double gib) => ByteSize.Format((long)(gib * (1L << 30)));
        var parts = new List<string>();
        if (memory.HostPeakResidentGib is { } resident)
            parts.Add($"host peak {Size(resident)} resident" + (memory.HostPeakAnonymousGib is { } anonymous && memory.HostPeakMappedFilesGib is { } files
                ? $" ({Size(anonymous)} anonymous, {Size(files)} mapped files at most)" : ""));
        if (memory.GpuPeakUsedGib is { } gpu)
            parts.Add($"GPU {Size(gpu)} in use at most");
        parts.Add($"GC pauses {memory.GcPauseSeconds:F2} s ({memory.FullCollections} full collections)");
        return string.Join("; ", parts);
    }

    internal static int Positive(int value, string name) =>
        value > 0 ? value : throw new RoseException($"{name} must be positive (got {value})");
}
