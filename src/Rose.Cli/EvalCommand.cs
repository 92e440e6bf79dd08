using System.CommandLine;
using System.Text.Json;
using Rose.Evaluation;
using Rose.Modeling;

namespace Rose.Cli;

public static class EvalCommand
{
    public static Command Create(TextWriter stdout)
    {
        var model = new Option<string?>("--model") { Description = "HF checkpoint folder (default: the bundled sample)" };
        var text = new Option<string?>("--text") { Description = "evaluation text (.txt, .jsonl, .json(.gz), .parquet); default: the sample's eval slice" };
        var seqLen = new Option<int?>("--seqlen") { Description = "window length (default min(2048, max_position_embeddings))" };
        var maxWindows = new Option<int?>("--max-windows") { Description = "evaluate at most this many windows" };
        var json = new Option<bool>("--json") { Description = "print a JSON summary as the last stdout line" };
        var device = DeviceOption.Create();
        var command = new Command("eval", "Perplexity: the text tokenized once with BOS, non-overlapping windows, exp(mean window loss)")
        {
            model, text, seqLen, maxWindows, device, json,
        };
        command.SetAction(parse => CommandGuard.Run(() =>
        {
            string modelDir = parse.GetValue(model) ?? BundledSample.ModelDirectory;
            string textPath = parse.GetValue(text) ?? (parse.GetValue(model) is null ? BundledSample.EvalText
                : throw new RoseException("--text is required with --model"));
            using var llama = LlamaModel.Open(modelDir);
            using var backend = DeviceOption.Backend(parse, device);
            var content = Data.TextCorpus.LoadWholeText(textPath);
            PerplexityResult result;
            using (var progress = new ConsoleProgress("eval"))
                result = Perplexity.Evaluate(llama, backend, content, parse.GetValue(seqLen), parse.GetValue(maxWindows), progress);
            stdout.WriteLine($"perplexity {result.Perplexity:F4} over {result.Windows} windows of {result.SeqLen} tokens ({result.Tokens} tokens, {result.Seconds:F1} s)");
            if (parse.GetValue(json))
                stdout.WriteLine(JsonSerializer.Serialize(new
                {
                    perplexity = result.Perplexity,
                    windows = result.Windows,
                    tokens = result.Tokens,
                    seqlen = result.SeqLen,
                    seconds = result.Seconds,
                }));
            return 0;
        }));
        return command;
    }
}
