using System.CommandLine;
using System.Diagnostics;
using Rose.Evaluation;
using Rose.Modeling;
using Rose.Pipeline;
using Rose.Pruning;
using Rose.Pruning.Cpu;

namespace Rose.Cli;

/// <summary>The newcomer's tour: prune the bundled sample with SparseGPT and ROSE at 50% and 70%
/// and print the perplexities.</summary>
public static class DemoCommand
{
    public static Command Create(TextWriter stdout)
    {
        var command = new Command("demo", "Prune the bundled sample with SparseGPT and ROSE at 50% and 70% and compare perplexities");
        command.SetAction(_ => CommandGuard.Run(() =>
        {
            string eval = BundledSample.EvalText;
            var clock = Stopwatch.StartNew();
            double dense;
            using (var model = LlamaModel.Open(BundledSample.ModelDirectory))
            using (var progress = new ConsoleProgress("dense eval"))
                dense = new PerplexityEvaluator(model).Evaluate(File.ReadAllText(eval), 512, progress: progress).Perplexity;
            var rows = new List<(string Method, string Sparsity, double Ppl, double Seconds)> { ("dense", "0%", dense, clock.Elapsed.TotalSeconds) };
            string root = Path.Combine(Path.GetTempPath(), $"rose-demo-{Environment.ProcessId}");
            try
            {
                foreach (var method in new[] { PruneMethod.SparseGpt, PruneMethod.Rose })
                    foreach (var sparsity in new[] { 0.5, 0.7 })
                    {
                        clock.Restart();
                        string name = method.ToString().ToLowerInvariant();
                        using var backend = new CpuBackend();
                        PruneReport report;
                        using (var progress = new ConsoleProgress($"{name} {sparsity:P0}"))
                            report = new PruningPipeline(backend, TextWriter.Null).Run(new PruneRunOptions
                            {
                                ModelDirectory = BundledSample.ModelDirectory,
                                OutputDirectory = Path.Combine(root, $"{name}-{sparsity}"),
                                Prune = new PruneOptions(method, sparsity, null),
                                CalibrationPath = BundledSample.CalibrationText,
                                Sampling = CalibrationSampling.Sequential,
                                NSamples = 64,
                                SeqLen = 512,
                                EvalPath = eval,
                                EvalSeqLen = 512,
                                EvalBefore = false,
                                CommandLine = "rose demo",
                            }, progress);
                        rows.Add((name, $"{sparsity * 100:0}%", report.PerplexityAfter!.Value, clock.Elapsed.TotalSeconds));
                    }
            }
            finally
            {
                if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
            }
            stdout.WriteLine();
            stdout.WriteLine("stories260K, calibration 64 × 512 (sequential), perplexity on tinystories-eval at seqlen 512, CPU");
            stdout.WriteLine($"{"method",-10} {"sparsity",8} {"perplexity",11} {"seconds",8}");
            foreach (var r in rows) stdout.WriteLine($"{r.Method,-10} {r.Sparsity,8} {r.Ppl,11:F4} {r.Seconds,8:F1}");
            return 0;
        }));
        return command;
    }
}
