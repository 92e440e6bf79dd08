using System.Security.Cryptography;
using System.Text.Json;
using NUnit.Framework;
using Rose.Modeling;
using Rose.Pipeline;
using Rose.Pruning;
using Rose.Pruning.Cpu;
using Rose.SafeTensors;
using Rose.Tests.Support;

namespace Rose.Tests.Pipeline;

[TestFixture]
public class PipelineTests
{
    private string _dir = "";

    [SetUp] public void SetUp() => _dir = TinyModelFactory.TempDir("pipe");
    [TearDown] public void TearDown() { if (Directory.Exists(_dir)) Directory.Delete(_dir, true); }

    private static string HashFolder(string dir) => string.Join(",", Directory.GetFiles(dir).OrderBy(f => f)
        .Select(f => Path.GetFileName(f) + ":" + Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))));

    private string CalibrationFile()
    {
        var rng = new Random(3);
        var docs = Enumerable.Range(0, 40).Select(_ => string.Join(' ', Enumerable.Range(0, 30).Select(_ => (char)('a' + rng.Next(26)) + "b")));
        var path = Path.Combine(_dir, "calib.txt");
        File.WriteAllText(path, string.Join("\n\n", docs));
        return path;
    }

    private PruneReport Run(string model, PruneOptions prune, string outDir, bool force = false, int nsamples = 4) =>
        new PruningPipeline(new CpuBackend(), TextWriter.Null).Run(new PruneRunOptions
        {
            ModelDirectory = model,
            OutputDirectory = outDir,
            Prune = prune,
            CalibrationPath = CalibrationFile(),
            Sampling = CalibrationSampling.Sequential,
            NSamples = nsamples,
            SeqLen = 16,
            Force = force,
        });

    [Test]
    public void ShardedBf16ModelKeepsDtypeLayoutAndCopiesUnprunedTensorsBitForBit()
    {
        var model = TinyModelFactory.Create(new TinyModelSpec { DType = DType.BF16, Vocab = 300 }, Path.Combine(_dir, "model"));
        ByteLevelTokenizerFixture.Write(model);
        ReshardAsThree(model);
        string before = HashFolder(model);
        string outDir = Path.Combine(_dir, "out");
        var report = Run(model, new PruneOptions(PruneMethod.Rose, 0.5, null, BlockSize: 16), outDir);

        Assert.That(HashFolder(model), Is.EqualTo(before), "the input must never be modified");
        using var input = Checkpoint.Open(model);
        using var output = Checkpoint.Open(outDir);
        Assert.That(output.ShardFiles, Is.EqualTo(input.ShardFiles));
        foreach (var name in input.TensorNames)
        {
            Assert.That(output.ShardOf(name), Is.EqualTo(input.ShardOf(name)), name);
            Assert.That(output.GetInfo(name).DType, Is.EqualTo(DType.BF16), name);
            bool pruned = name.EndsWith("proj.weight", StringComparison.Ordinal);
            if (!pruned) Assert.That(output.GetBytes(name).ToArray(), Is.EqualTo(input.GetBytes(name).ToArray()), name);
            else
            {
                var w = output.ReadFloat32(name);
                Assert.That(w.Count(v => v == 0) / (double)w.Length, Is.EqualTo(0.5).Within(0.05), name);
            }
        }
        Assert.That(report.Matrices, Has.Count.EqualTo(2 * 7));
        Assert.That(File.Exists(Path.Combine(outDir, "rose-report.json")));
        Assert.That(File.Exists(Path.Combine(outDir, "config.json")) && File.Exists(Path.Combine(outDir, "tokenizer.json")));
        Assert.That(Directory.GetDirectories(_dir).Where(d => Path.GetFileName(d).Contains("rose-tmp")), Is.Empty);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "rose-report.json")));
        Assert.That(json.RootElement.GetProperty("matrices").GetArrayLength(), Is.EqualTo(14));
        Assert.That(json.RootElement.GetProperty("seconds").GetProperty("total").GetDouble(), Is.GreaterThan(0));
    }

    [Test]
    public void ExistingOutputIsRefusedUnlessForced()
    {
        var model = TinyModelFactory.Create(new TinyModelSpec { Vocab = 300 }, Path.Combine(_dir, "model"));
        ByteLevelTokenizerFixture.Write(model);
        string outDir = Path.Combine(_dir, "out");
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "keep.txt"), "x");
        var e = Assert.Throws<RoseException>(() => Run(model, new PruneOptions(PruneMethod.Magnitude, 0.5, null), outDir));
        Assert.That(e!.Message, Does.Contain("--force"));
        Assert.That(File.Exists(Path.Combine(outDir, "keep.txt")));
        Run(model, new PruneOptions(PruneMethod.Magnitude, 0.5, null), outDir, force: true);
        Assert.That(File.Exists(Path.Combine(outDir, "keep.txt")), Is.False);
        Assert.That(File.Exists(Path.Combine(outDir, "model.safetensors")));
        Assert.Throws<RoseException>(() => Run(model, new PruneOptions(PruneMethod.Magnitude, 0.5, null), model, force: true));
    }

    [TestCase(PruneMethod.Magnitude)]
    [TestCase(PruneMethod.Wanda)]
    [TestCase(PruneMethod.SparseGpt)]
    [TestCase(PruneMethod.Rose)]
    public void EveryMethodWritesValidTwoFourModel(PruneMethod method)
    {
        var model = TinyModelFactory.Create(new TinyModelSpec { Vocab = 300 }, Path.Combine(_dir, "model"));
        ByteLevelTokenizerFixture.Write(model);
        string outDir = Path.Combine(_dir, "out");
        Run(model, new PruneOptions(method, 0.5, new NmPattern(2, 4)), outDir);
        using var output = LlamaModel.Open(outDir);
        for (int l = 0; l < output.LayerCount; l++)
            foreach (var kind in LinearKinds.All)
            {
                var w = output.Checkpoint.ReadFloat32(LinearKinds.WeightName(l, kind));
                int cols = output.Shape.InputsOf(kind);
                for (int g = 0; g < w.Length; g += 4)
                    Assert.That(w.Skip(g).Take(4).Count(v => v == 0), Is.GreaterThanOrEqualTo(2), $"{kind} layer {l} group {g}");
            }
    }

    [Test]
    public void TooLittleMemoryIsRefusedUpFront()
    {
        var model = TinyModelFactory.Create(new TinyModelSpec { Vocab = 300 }, Path.Combine(_dir, "model"));
        ByteLevelTokenizerFixture.Write(model);
        var e = Assert.Throws<RoseException>(() => new PruningPipeline(new CpuBackend(), TextWriter.Null).Run(new PruneRunOptions
        {
            ModelDirectory = model, OutputDirectory = Path.Combine(_dir, "out"),
            Prune = new PruneOptions(PruneMethod.SparseGpt, 0.5, null), CalibrationPath = CalibrationFile(),
            Sampling = CalibrationSampling.Sequential, NSamples = 4, SeqLen = 16, MemoryLimitBytes = 1000,
        }));
        Assert.That(e!.Message, Does.Contain("--nsamples"));
        Assert.That(Directory.Exists(Path.Combine(_dir, "out")), Is.False);
    }

    [Test]
    public void CancelledRunLeavesNoOutputAndNoTemporaryFolder()
    {
        var model = TinyModelFactory.Create(new TinyModelSpec { Vocab = 300 }, Path.Combine(_dir, "model"));
        ByteLevelTokenizerFixture.Write(model);
        using var cancel = new CancellationTokenSource();
        var progress = new Progress<ProgressUpdate>();
        cancel.Cancel();
        Assert.Throws<OperationCanceledException>(() => new PruningPipeline(new CpuBackend(), TextWriter.Null).Run(new PruneRunOptions
        {
            ModelDirectory = model, OutputDirectory = Path.Combine(_dir, "out"),
            Prune = new PruneOptions(PruneMethod.SparseGpt, 0.5, null), CalibrationPath = CalibrationFile(),
            Sampling = CalibrationSampling.Sequential, NSamples = 4, SeqLen = 16,
        }, progress, cancel.Token));
        Assert.That(Directory.GetDirectories(_dir).Select(Path.GetFileName), Is.EquivalentTo(new[] { "model" }));
    }

    /// <summary>Splits a model.safetensors into three shards with an index, as large HF checkpoints come.</summary>
    internal static void ReshardAsThree(string dir)
    {
        List<(TensorSpec Spec, byte[] Bytes)> tensors;
        using (var single = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors")))
            tensors = single.Tensors.Select(t => (new TensorSpec(t.Name, t.DType, t.Shape), single.GetBytes(t.Name).ToArray())).ToList();
        File.Delete(Path.Combine(dir, "model.safetensors"));
        long limit = tensors.Sum(t => (long)t.Bytes.Length) / 3 + 1;
        var plan = CheckpointWriter.Plan(tensors.Select(t => t.Spec).ToList(), limit);
        Assert.That(plan.Count, Is.GreaterThanOrEqualTo(3));
        using var writer = new CheckpointWriter(dir, plan);
        foreach (var t in tensors) writer.Write(t.Spec.Name, t.Bytes);
        writer.Complete();
    }
}
