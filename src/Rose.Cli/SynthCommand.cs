using System.CommandLine;
using System.Diagnostics;
using Rose.SafeTensors;
using Rose.Synthesis;

namespace Rose.Cli;

public static class SynthCommand
{
    public static Command Create(TextWriter stdout)
    {
        var arch = new Option<string>("--arch") { Description = string.Join(", ", SyntheticArchitecture.All.Select(a => a.Name)), Required = true };
        var dtype = new Option<string>("--dtype") { Description = "bf16 or fp16 (fp32 also accepted)", DefaultValueFactory = _ => "bf16" };
        var output = new Option<string>("--out") { Description = "output folder", Required = true };
        var layers = new Option<int?>("--layers") { Description = "override the layer count (quick tests)" };
        var seed = new Option<ulong>("--seed") { Description = "RNG seed; the same seed gives identical bytes", DefaultValueFactory = _ => 0 };
        var command = new Command("synth", "Write a random-weight checkpoint (N(0, 0.02), norms 1) with a real architecture's exact shapes, plus a byte-level tokenizer")
        {
            arch, dtype, output, layers, seed,
        };
        command.SetAction(parse => CommandGuard.Run(() =>
        {
            var architecture = SyntheticArchitecture.Get(parse.GetValue(arch)!);
            if (parse.GetValue(layers) is int n) architecture = architecture.WithLayers(n);
            var type = SyntheticCheckpoint.ParseDType(parse.GetValue(dtype)!);
            string dir = parse.GetValue(output)!;
            var clock = Stopwatch.StartNew();
            using (var progress = new ConsoleProgress("synth"))
                SyntheticCheckpoint.Write(architecture, type, dir, parse.GetValue(seed), progress);
            stdout.WriteLine($"wrote {architecture.Name} ({architecture.Layers} layers, {type.ToSafeTensorsString()}) to {dir} in {clock.Elapsed.TotalSeconds:F1} s");
            return 0;
        }));
        return command;
    }
}
