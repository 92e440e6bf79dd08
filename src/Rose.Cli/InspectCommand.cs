using System.CommandLine;
using System.Text.Json;
using Rose.Data;
using Rose.Modeling;
using Rose.Pipeline;
using Rose.Pruning;

namespace Rose.Cli;

public static class InspectCommand
{
    public static Command Create(TextWriter stdout)
    {
        var model = new Option<string?>("--model") { Description = "HF checkpoint folder (default: the bundled sample)" };
        var calib = new Option<string?>("--calib") { Description = "calibration text: adds each matrix's ROSE relative range and reorder decision" };
        var nsamples = new Option<int>("--nsamples") { Description = "calibration sequences", DefaultValueFactory = _ => 128 };
        var seqlen = new Option<int>("--seqlen") { Description = "calibration sequence length (capped at max_position_embeddings)", DefaultValueFactory = _ => 2048 };
        var sampling = new Option<string>("--calib-sampling") { Description = "random | sequential", DefaultValueFactory = _ => "random" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0, Description = "seed of random calibration sampling" };
        var sparsity = new Option<double>("--sparsity") { Description = "sparsity the ROSE ordering is computed for", DefaultValueFactory = _ => 0.5 };
        var blocksize = new Option<int>("--blocksize") { Description = "ROSE block size", DefaultValueFactory = _ => 128 };
        var device = DeviceOption.Create();
        var json = new Option<bool>("--json") { Description = "print the table as JSON on the last stdout line" };
        var command = new Command("inspect", "Per-matrix sparsity; with --calib, the ROSE relative range of each matrix and whether ROSE would reorder it")
        {
            model, calib, nsamples, seqlen, sampling, seed, sparsity, blocksize, device, json,
        };
        command.SetAction(parse => CommandGuard.Run(() =>
        {
            using var llama = LlamaModel.Open(parse.GetValue(model) ?? BundledSample.ModelDirectory);
            string? calibPath = parse.GetValue(calib);
            int len = Math.Min(PruneCommand.Positive(parse.GetValue(seqlen), "--seqlen"), llama.Config.MaxPositionEmbeddings);
            int n = PruneCommand.Positive(parse.GetValue(nsamples), "--nsamples");
            int[][]? windows = calibPath is null ? null : parse.GetValue(sampling)!.ToLowerInvariant() switch
            {
                "sequential" => CalibrationSampler.Sequential(llama.Tokenizer.Encode(TextCorpus.LoadWholeText(calibPath), addBos: true), n, len),
                "random" => CalibrationSampler.Random(TextCorpus.LoadDocuments(calibPath), t => llama.Tokenizer.Encode(t, addBos: true), n, len, parse.GetValue(seed)),
                var other => throw new RoseException($"--calib-sampling '{other}' is not random or sequential"),
            };
            var rose = new PruneOptions(PruneMethod.Rose, parse.GetValue(sparsity), null, parse.GetValue(blocksize));
            using var backend = DeviceOption.Backend(parse, device);
            List<MatrixInspection> rows;
            using (var progress = new ConsoleProgress("inspect"))
                rows = ModelInspector.Inspect(llama, backend, windows, rose, progress);
            foreach (var r in rows)
                stdout.WriteLine($"{r.Name,-48} {r.Rows,6}×{r.Cols,-6} sparsity {r.Sparsity,7:P2}"
                    + (r.RelativeRange is { } range ? $"  relative range {range:F4}  {(r.WouldReorder == true ? "reorder" : "identity")}" : ""));
            if (parse.GetValue(json))
                stdout.WriteLine(JsonSerializer.Serialize(rows.Select(r => new
                {
                    name = r.Name, rows = r.Rows, cols = r.Cols, sparsity = r.Sparsity,
                    relative_range = r.RelativeRange, would_reorder = r.WouldReorder,
                })));
            return 0;
        }));
        return command;
    }
}
