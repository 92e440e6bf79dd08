using System.Text.Json;
using NUnit.Framework;
using Rose.Cli;

namespace Rose.Tests.Cli;

[TestFixture, NonParallelizable]
public class CliTests
{
    private static (int Code, string Out) Run(params string[] args)
    {
        var writer = new StringWriter();
        int code = Program.Run(args, writer);
        return (code, writer.ToString());
    }

    [Test]
    public void RunningOutOfHostMemoryIsAnErrorThatSaysWhatToLower()
    {
        // Where .NET's heap has a limit (a container's), an allocation past it throws instead of the kernel killing the run.
        var previous = Console.Error;
        var error = new StringWriter();
        Console.SetError(error);
        int code;
        try { code = CommandGuard.Run(() => throw new OutOfMemoryException()); }
        finally { Console.SetError(previous); }
        Assert.That(code, Is.EqualTo(1));
        Assert.That(error.ToString(), Does.Contain("error: the host ran out of memory").And.Contain("lower --nsamples or --seqlen"));
    }

    [Test]
    public void EvalJsonLastLineCarriesTheFigures()
    {
        var (code, output) = Run("eval", "--seqlen", "128", "--max-windows", "4", "--json");
        Assert.That(code, Is.EqualTo(0), output);
        var last = output.TrimEnd().Split('\n')[^1];
        using var json = JsonDocument.Parse(last);
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("windows").GetInt32(), Is.EqualTo(4));
            Assert.That(json.RootElement.GetProperty("seqlen").GetInt32(), Is.EqualTo(128));
            Assert.That(json.RootElement.GetProperty("perplexity").GetDouble(), Is.GreaterThan(1));
            Assert.That(json.RootElement.GetProperty("tokens").GetInt32(), Is.EqualTo(98_593));
            Assert.That(json.RootElement.TryGetProperty("seconds", out _));
        });
    }

    [Test]
    public void BadInputExitsWithOne()
    {
        Assert.That(Run("eval", "--model", "/nonexistent/model", "--text", "x.txt").Code, Is.EqualTo(1));
        Assert.That(Run("eval", "--no-such-option").Code, Is.EqualTo(1));
        Assert.That(Run("no-such-command").Code, Is.EqualTo(1));
        Assert.That(Run("import-llama2c", "--checkpoint", "/nonexistent.bin", "--tokenizer", "t", "--out", "o").Code, Is.EqualTo(1));
    }

    [Test]
    public void PruneThenEvalThenReloadTheSample()
    {
        string dir = Path.Combine(Path.GetTempPath(), "rose-tests", $"cli-{Guid.NewGuid():N}");
        string outDir = Path.Combine(dir, "pruned");
        try
        {
            var (code, output) = Run("prune", "--method", "sparsegpt", "--sparsity", "0.5", "--calib-sampling", "sequential",
                "--nsamples", "8", "--seqlen", "128", "--out", outDir, "--eval", BundledSample.EvalText, "--eval-seqlen", "128", "--json");
            Assert.That(code, Is.EqualTo(0), output);
            if (OperatingSystem.IsLinux())
                Assert.That(output, Does.Match(@"memory: host peak [0-9.]+ [KMG]iB resident \([0-9.]+ [KMG]iB anonymous, [0-9.]+ [KMG]?i?B mapped files at most\); GC pauses [0-9.]+ s \([0-9]+ full collections\)\n"));
            using (var summary = JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]))
            {
                double after = summary.RootElement.GetProperty("perplexity_after").GetDouble();
                double before = summary.RootElement.GetProperty("perplexity_before").GetDouble();
                Assert.That(after, Is.GreaterThan(before));
                var (evalCode, evalOut) = Run("eval", "--model", outDir, "--text", BundledSample.EvalText, "--seqlen", "128", "--json");
                Assert.That(evalCode, Is.EqualTo(0), evalOut);
                using var eval = JsonDocument.Parse(evalOut.TrimEnd().Split('\n')[^1]);
                Assert.That(eval.RootElement.GetProperty("perplexity").GetDouble(), Is.EqualTo(after).Within(1e-9));
            }
            using var input = Rose.SafeTensors.Checkpoint.Open(BundledSample.ModelDirectory);
            using var pruned = Rose.SafeTensors.Checkpoint.Open(outDir);
            Assert.That(pruned.TensorNames, Is.EquivalentTo(input.TensorNames));
            foreach (var name in input.TensorNames.Where(n => !n.EndsWith("proj.weight", StringComparison.Ordinal)))
                Assert.That(pruned.GetBytes(name).ToArray(), Is.EqualTo(input.GetBytes(name).ToArray()), name);
            Assert.That(Run("prune", "--method", "magnitude", "--sparsity", "0.5", "--out", outDir).Code, Is.EqualTo(1), "existing --out without --force");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Test]
    public void PruneLayerPrunesACaseFile()
    {
        string dir = Path.Combine(Path.GetTempPath(), "rose-tests", $"cli-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var rng = new Random(5);
            int rows = 24, cols = 40, n = 3, tokens = 20;
            var weight = Enumerable.Range(0, rows * cols).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
            var inputs = Enumerable.Range(0, n * tokens * cols).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
            string casePath = Path.Combine(dir, "case.safetensors"), outPath = Path.Combine(dir, "out.safetensors");
            using (var w = new Rose.SafeTensors.SafeTensorsFileWriter(casePath, [
                new("weight", Rose.SafeTensors.DType.F32, [rows, cols]), new("inputs", Rose.SafeTensors.DType.BF16, [n, tokens, cols])]))
            {
                w.WriteFloat32("weight", weight);
                w.WriteFloat32("inputs", inputs);
                w.Complete();
            }
            var (code, output) = Run("prune-layer", "--in", casePath, "--out", outPath, "--method", "rose", "--pattern", "2:4", "--json");
            Assert.That(code, Is.EqualTo(0), output);
            using var json = JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]);
            Assert.That(json.RootElement.GetProperty("sparsity").GetDouble(), Is.EqualTo(0.5));
            Assert.That(json.RootElement.GetProperty("loss").GetDouble(), Is.GreaterThan(0));
            Assert.That(json.RootElement.TryGetProperty("relative_range", out _));
            using var result = Rose.SafeTensors.SafeTensorsFile.Open(outPath);
            var pruned = result.ReadFloat32("weight");
            for (int g = 0; g < pruned.Length; g += 4) Assert.That(pruned.Skip(g).Take(4).Count(v => v == 0), Is.GreaterThanOrEqualTo(2));
            Assert.That(Run("prune-layer", "--in", outPath, "--out", Path.Combine(dir, "x.safetensors"), "--method", "wanda", "--sparsity", "0.5").Code,
                Is.EqualTo(1), "a case without inputs");
            Assert.That(Run("prune-layer", "--in", casePath, "--out", outPath, "--method", "rose").Code, Is.EqualTo(1), "neither --sparsity nor --pattern");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Test]
    public void InspectReportsEveryMatrixAndRelativeRanges()
    {
        var (code, output) = Run("inspect", "--calib", BundledSample.CalibrationText, "--calib-sampling", "sequential",
            "--nsamples", "4", "--seqlen", "128", "--sparsity", "0.7", "--blocksize", "16", "--json");
        Assert.That(code, Is.EqualTo(0), output);
        using var json = JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]);
        var rows = json.RootElement.EnumerateArray().ToList();
        Assert.That(rows, Has.Count.EqualTo(5 * 7));
        Assert.That(rows.All(r => r.GetProperty("sparsity").GetDouble() == 0));
        Assert.That(rows.All(r => r.GetProperty("relative_range").GetDouble() is >= 0 and <= 1));
        Assert.That(rows.Select(r => r.GetProperty("relative_range").GetDouble()).Distinct().Count(), Is.GreaterThan(1));
    }

    [Test]
    public void HelpWorksForEveryCommand()
    {
        foreach (var command in new[] { "eval", "import-llama2c", "prune", "prune-layer", "inspect", "demo", "doctor", "synth" })
        {
            var (code, output) = Run(command, "--help");
            Assert.That(code, Is.EqualTo(0), command);
            Assert.That(output, Does.Contain($"rose {command} [options]"), command);
        }
    }

    [Test]
    public void HelpNamesTheCommandRoseAndListsEveryCommand()
    {
        var (code, output) = Run("--help");
        Assert.That(code, Is.EqualTo(0));
        Assert.That(output, Does.Contain("rose [command] [options]"));
        Assert.That(output, Does.Not.Contain("Rose.Cli"));
        foreach (var command in new[] { "eval", "import-llama2c", "prune", "prune-layer", "inspect", "demo", "doctor", "synth" })
            Assert.That(output, Does.Match($@"\n\s+{command}\s"), command);
        Assert.That(Run("--version").Code, Is.EqualTo(0));
    }
}
