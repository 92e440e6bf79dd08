using System.CommandLine;
using Rose.Import;

namespace Rose.Cli;

public static class ImportLlama2cCommand
{
    public static Command Create(TextWriter stdout)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "llama2.c checkpoint (version-0 .bin)", Required = true };
        var tokenizer = new Option<string>("--tokenizer") { Description = "SentencePiece tokenizer.model", Required = true };
        var output = new Option<string>("--out") { Description = "output HF folder", Required = true };
        var command = new Command("import-llama2c", "Convert a llama2.c checkpoint into a HF LLaMA folder (F32 safetensors)")
        {
            checkpoint, tokenizer, output,
        };
        command.SetAction(parse => CommandGuard.Run(() =>
        {
            var header = Llama2cImporter.Convert(parse.GetValue(checkpoint)!, parse.GetValue(tokenizer)!, parse.GetValue(output)!);
            stdout.WriteLine($"wrote {parse.GetValue(output)}: dim {header.Dim}, {header.Layers} layers, {header.Heads} heads ({header.KvHeads} kv), vocab {header.VocabSize}");
            return 0;
        }));
        return command;
    }
}
