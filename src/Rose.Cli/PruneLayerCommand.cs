using System.CommandLine;
using System.Text.Json;
using Rose.Pruning;
using Rose.SafeTensors;

namespace Rose.Cli;

/// <summary>One matrix from a safetensors case file: for research and for checking against other
/// implementations. The statistics are folded one of the n sequences at a time, as in the pipeline.</summary>
public static class PruneLayerCommand
{
    public static Command Create(TextWriter stdout)
    {
        var methodOptions = new PruneMethodOptions();
        var input = new Option<string>("--in") { Description = "CASE.safetensors with 'weight' [rows, cols] and 'inputs' [n, tokens, cols]", Required = true };
        var output = new Option<string>("--out") { Description = "OUT.safetensors receiving the pruned 'weight' (F32)", Required = true };
        var device = DeviceOption.Create();
        var json = new Option<bool>("--json") { Description = "print a JSON summary as the last stdout line" };
        var command = new Command("prune-layer", "Prune one weight matrix given its calibration inputs");
        foreach (var o in methodOptions.All) command.Options.Add(o);
        foreach (var o in new Option[] { input, output, device, json }) command.Options.Add(o);
        command.SetAction(parse => CommandGuard.Run(() =>
        {
            var options = methodOptions.Parse(parse);
            string inPath = parse.GetValue(input)!, outPath = parse.GetValue(output)!;
            if (!File.Exists(inPath)) throw new RoseException($"{inPath}: case file not found");
            using var file = SafeTensorsFile.Open(inPath);
            var (weight, rows, cols) = ReadWeight(file);
            using var backend = DeviceOption.Backend(parse, device);
            using var stats = options.Method == PruneMethod.Magnitude ? null : FoldInputs(file, backend, cols);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var result = MatrixPruner.Prune(backend, weight, rows, cols, stats, options);
            double seconds = clock.Elapsed.TotalSeconds;
            using (var writer = new SafeTensorsFileWriter(outPath, [new TensorSpec("weight", DType.F32, [rows, cols])]))
            {
                writer.WriteFloat32("weight", weight);
                writer.Complete();
            }
            stdout.WriteLine($"{options.Method} {rows}×{cols}: sparsity {result.Sparsity:P2}, loss {result.Loss?.ToString("G6") ?? "n/a"}"
                + (result.RelativeRange is { } r ? $", relative range {r:F4}, {(result.Reordered == true ? "reordered" : "identity order")}" : "")
                + $", {seconds:F3} s → {outPath}");
            if (parse.GetValue(json))
                stdout.WriteLine(JsonSerializer.Serialize(new
                {
                    method = options.Method.ToString().ToLowerInvariant(),
                    rows,
                    cols,
                    sparsity = result.Sparsity,
                    loss = result.Loss,
                    relative_range = result.RelativeRange,
                    reordered = result.Reordered,
                    damp_used = result.DampUsed,
                    non_pd_events = result.NonPdEvents,
                    seconds,
                    backend = backend.Name,
                }));
            return 0;
        }));
        return command;
    }

    private static (float[] Weight, int Rows, int Cols) ReadWeight(SafeTensorsFile file)
    {
        if (!file.Contains("weight")) throw new RoseException($"{file.Path}: no tensor 'weight'");
        var info = file.GetInfo("weight");
        if (info.Shape.Length != 2) throw new RoseException($"{file.Path}: 'weight' has shape {info.ShapeText}, expected [rows, cols]");
        return (file.ReadFloat32("weight"), checked((int)info.Shape[0]), checked((int)info.Shape[1]));
    }

    private static LayerInputStatistics FoldInputs(SafeTensorsFile file, IPruningBackend backend, int cols)
    {
        if (!file.Contains("inputs")) throw new RoseException($"{file.Path}: no tensor 'inputs' (needed by every method but magnitude)");
        var info = file.GetInfo("inputs");
        if (info.Shape.Length != 3 || info.Shape[2] != cols)
            throw new RoseException($"{file.Path}: 'inputs' has shape {info.ShapeText}, expected [n, tokens, {cols}]");
        int n = checked((int)info.Shape[0]), tokens = checked((int)info.Shape[1]);
        var inputs = file.ReadFloat32("inputs");
        var stats = new LayerInputStatistics(backend, cols);
        for (int k = 0; k < n; k++)
            stats.Fold(inputs.AsSpan(k * tokens * cols, tokens * cols), tokens);
        return stats;
    }
}
