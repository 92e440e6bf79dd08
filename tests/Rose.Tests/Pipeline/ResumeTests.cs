using System.CommandLine;
using System.Text.Json;
using NUnit.Framework;
using Rose.Cli;
using Rose.Pipeline;
using Rose.Pruning;
using Rose.Pruning.Cpu;
using Rose.SafeTensors;
using Rose.Tests.Support;

namespace Rose.Tests.Pipeline;

[TestFixture]
public class ResumeTests
{
    private string _dir = "";
    private string _model = "";
    private string _calib = "";

    [SetUp]
    public void SetUp()
    {
        _dir = TinyModelFactory.TempDir("resume");
        _model = TinyModelFactory.Create(new TinyModelSpec { DType = DType.BF16, Vocab = 300, Layers = 3 }, Path.Combine(_dir, "model"));
        ByteLevelTokenizerFixture.Write(_model);
        PipelineTests.ReshardAsThree(_model);
        var rng = new Random(5);
        var docs = Enumerable.Range(0, 40).Select(_ => string.Join(' ', Enumerable.Range(0, 30).Select(_ => (char)('a' + rng.Next(26)) + "b")));
        _calib = Path.Combine(_dir, "calib.txt");
        File.WriteAllText(_calib, string.Join("\n\n", docs));
    }

    [TearDown] public void TearDown() { if (Directory.Exists(_dir)) Directory.Delete(_dir, true); }

    /// <summary>Reports progress synchronously (Progress&lt;T&gt; posts to the thread pool), so a test can act at an exact step.</summary>
    private sealed class Hook(Action<ProgressUpdate> action) : IProgress<ProgressUpdate>
    {
        public void Report(ProgressUpdate value) => action(value);
    }

    private PruneRunOptions Options(string outDir, bool resume = false) => new()
    {
        ModelDirectory = _model,
        OutputDirectory = outDir,
        Prune = new PruneOptions(PruneMethod.Rose, 0.5, null, BlockSize: 16),
        CalibrationPath = _calib,
        Sampling = CalibrationSampling.Random,
        NSamples = 4,
        SeqLen = 16,
        Seed = 7,
        Resume = resume,
    };

    private static PruneReport Run(PruneRunOptions options, IProgress<ProgressUpdate>? progress = null, CancellationToken cancel = default, TextWriter? log = null) =>
        new PruningPipeline(new CpuBackend(), log ?? TextWriter.Null).Run(options, progress, cancel);

    /// <summary>Runs until layer 2 starts, then cancels as Ctrl+C does; returns the cancellation's message.</summary>
    private static string RunCancelledAfterFirstLayer(PruneRunOptions options)
    {
        using var cancel = new CancellationTokenSource();
        var hook = new Hook(u => { if (u.Stage.StartsWith("layer 2/", StringComparison.Ordinal)) cancel.Cancel(); });
        var e = Assert.Throws<OperationCanceledException>(() => Run(options, hook, cancel.Token));
        return e!.Message;
    }

    private static string Partial(string outDir) => OutputFolder.PartialPathFor(outDir);

    private static void AssertSameModel(string expectedDir, string actualDir, PruneReport expected, PruneReport actual)
    {
        var files = Directory.GetFiles(expectedDir, "*.safetensors*").Select(Path.GetFileName).OrderBy(f => f).ToArray();
        Assert.That(files, Has.Length.GreaterThanOrEqualTo(4), "three shards and the index");
        Assert.That(Directory.GetFiles(actualDir, "*.safetensors*").Select(Path.GetFileName).OrderBy(f => f), Is.EqualTo(files));
        foreach (var file in files)
            Assert.That(File.ReadAllBytes(Path.Combine(actualDir, file!)), Is.EqualTo(File.ReadAllBytes(Path.Combine(expectedDir, file!))), file);
        Assert.That(actual.Matrices.Select(m => m.Name), Is.EqualTo(expected.Matrices.Select(m => m.Name)));
        Assert.That(actual.Matrices.Select(m => m.Sparsity), Is.EqualTo(expected.Matrices.Select(m => m.Sparsity)));
        Assert.That(actual.Matrices.Select(m => m.Loss), Is.EqualTo(expected.Matrices.Select(m => m.Loss)));
        Assert.That(actual.OverallSparsity, Is.EqualTo(expected.OverallSparsity));
    }

    [Test]
    public void CancelledRunKeepsProgressAndResumeFinishesItBitForBit()
    {
        var reference = Run(Options(Path.Combine(_dir, "reference")));

        string outDir = Path.Combine(_dir, "out");
        string message = RunCancelledAfterFirstLayer(Options(outDir));
        string partial = Partial(outDir);
        Assert.That(message, Is.EqualTo($"progress saved after layer 1/3 in {partial}; rerun the same command with --resume"));
        Assert.That(Directory.Exists(outDir), Is.False, "--out appears only when the run completes");
        Assert.That(File.Exists(Path.Combine(partial, ResumePoint.FileName)));
        Assert.That(File.Exists(Path.Combine(partial, ResumePoint.ActivationsFileName)));
        using (var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(partial, ResumePoint.FileName))))
        {
            Assert.That(json.RootElement.GetProperty("completed_layers").GetInt32(), Is.EqualTo(1));
            Assert.That(json.RootElement.GetProperty("matrices").GetArrayLength(), Is.EqualTo(7));
            Assert.That(json.RootElement.GetProperty("fingerprint").GetProperty("--seed").GetString(), Is.EqualTo("7"));
        }

        var stages = new List<string>();
        var resumed = Run(Options(outDir, resume: true), new Hook(u => stages.Add(u.Stage)));
        Assert.That(stages.Any(s => s.StartsWith("layer 1/", StringComparison.Ordinal)), Is.False, "layer 1 is not pruned again");
        Assert.That(resumed.ResumedFromLayer, Is.EqualTo(1));
        Assert.That(resumed.Matrices, Has.Count.EqualTo(3 * 7));
        AssertSameModel(Path.Combine(_dir, "reference"), outDir, reference, resumed);
        Assert.That(Directory.Exists(partial), Is.False);
        Assert.That(File.Exists(Path.Combine(outDir, ResumePoint.FileName)) || File.Exists(Path.Combine(outDir, ResumePoint.ActivationsFileName)), Is.False);
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "rose-report.json")));
        Assert.That(report.RootElement.GetProperty("resumed_from_layer").GetInt32(), Is.EqualTo(1));
        Assert.That(report.RootElement.GetProperty("matrices").GetArrayLength(), Is.EqualTo(21));
    }

    [Test]
    public void CrashAfterTwoLayersKeepsProgressAndResumeMatchesUninterruptedRun()
    {
        var reference = Run(Options(Path.Combine(_dir, "reference")));
        string outDir = Path.Combine(_dir, "out");
        var log = new StringWriter();
        var crash = new Hook(u => { if (u.Stage.StartsWith("layer 3/", StringComparison.Ordinal)) throw new InvalidOperationException("simulated crash"); });
        Assert.Throws<InvalidOperationException>(() => Run(Options(outDir), crash, log: log));
        Assert.That(log.ToString(), Does.Contain($"progress saved after layer 2/3 in {Partial(outDir)}; rerun the same command with --resume"));

        var resumed = Run(Options(outDir, resume: true));
        Assert.That(resumed.ResumedFromLayer, Is.EqualTo(2));
        AssertSameModel(Path.Combine(_dir, "reference"), outDir, reference, resumed);
    }

    /// <summary>Points that carry activations wait for --resume-interval; one is saved after every layer
    /// with 0, and an interruption saves one however long the interval.</summary>
    [TestCase(0.0, 1)]
    [TestCase(1e6, null)]
    public void ResumePointsFollowTheIntervalAndAnInterruptionAlwaysSavesOne(double interval, int? savedBeforeLayer3)
    {
        var reference = Run(Options(Path.Combine(_dir, "reference")));
        string outDir = Path.Combine(_dir, "out");
        var options = Options(outDir) with { ResumeIntervalSeconds = interval };
        int? seen = -1;
        using var cancel = new CancellationTokenSource();
        var hook = new Hook(u =>
        {
            if (seen != -1 || !u.Stage.StartsWith("layer 3/", StringComparison.Ordinal)) return;
            string json = Path.Combine(Partial(outDir), ResumePoint.FileName);
            seen = File.Exists(json) ? ResumePoint.Load(Partial(outDir)).CompletedLayers : null;
            cancel.Cancel();
        });
        Assert.Throws<OperationCanceledException>(() => Run(options, hook, cancel.Token));
        Assert.That(seen, Is.EqualTo(savedBeforeLayer3), "the resume point saved before layer 3 started");

        var resumed = Run(Options(outDir, resume: true));
        Assert.That(resumed.ResumedFromLayer, Is.EqualTo(2), "Ctrl+C saved the point after layer 2");
        AssertSameModel(Path.Combine(_dir, "reference"), outDir, reference, resumed);
    }

    [Test]
    public void FailureAfterTheLastLayerResumesWithoutPruningAgain()
    {
        var reference = Run(Options(Path.Combine(_dir, "reference")));
        string outDir = Path.Combine(_dir, "out");
        var crash = new Hook(u => { if (u.Stage == "layer 3/3 written") throw new IOException("simulated failure while finishing"); });
        Assert.Throws<IOException>(() => Run(Options(outDir), crash));
        Assert.That(File.Exists(Path.Combine(Partial(outDir), ResumePoint.FileName)));

        var stages = new List<string>();
        var resumed = Run(Options(outDir, resume: true), new Hook(u => stages.Add(u.Stage)));
        Assert.That(stages, Is.Empty, "every layer was already saved");
        Assert.That(resumed.ResumedFromLayer, Is.EqualTo(3));
        AssertSameModel(Path.Combine(_dir, "reference"), outDir, reference, resumed);
    }

    [Test]
    public void SecondRunForTheSameOutputIsRefusedWhileTheFirstHoldsIt()
    {
        string outDir = Path.Combine(_dir, "out");
        using (OutputFolder.Begin(outDir, _model, force: false))
        {
            var e = Assert.Throws<RoseException>(() => OutputFolder.Begin(outDir, _model, force: false));
            Assert.That(e!.Message, Does.Contain("another rose prune"));
        }
        using (OutputFolder.Begin(outDir, _model, force: false)) { }
        Assert.That(Directory.Exists(Partial(outDir)), Is.False);
    }

    [Test]
    public void ResumeWithDifferentSettingsIsRefusedNamingTheSetting()
    {
        string outDir = Path.Combine(_dir, "out");
        RunCancelledAfterFirstLayer(Options(outDir));

        var damp = Assert.Throws<RoseException>(() => Run(Options(outDir, resume: true) with { Prune = new PruneOptions(PruneMethod.Rose, 0.5, null, BlockSize: 16, Damp: 0.05) }));
        Assert.That(damp!.Message, Does.Contain("--damp"));
        var nsamples = Assert.Throws<RoseException>(() => Run(Options(outDir, resume: true) with { NSamples = 3 }));
        Assert.That(nsamples!.Message, Does.Contain("--nsamples 4").And.Contain("--nsamples 3"));
        var method = Assert.Throws<RoseException>(() => Run(Options(outDir, resume: true) with { Prune = new PruneOptions(PruneMethod.SparseGpt, 0.5, null, BlockSize: 16) }));
        Assert.That(method!.Message, Does.Contain("--method"));
        Assert.That(damp.Message, Does.Not.Contain('\n'));

        Assert.That(File.Exists(Path.Combine(Partial(outDir), ResumePoint.FileName)), "a refused resume keeps the saved progress");
        Assert.That(Run(Options(outDir, resume: true)).ResumedFromLayer, Is.EqualTo(1));
    }

    [Test]
    public void DamagedShardIsRefusedOnResumeWithoutOfferingResumeAgain()
    {
        string outDir = Path.Combine(_dir, "out");
        RunCancelledAfterFirstLayer(Options(outDir));
        var shard = Directory.GetFiles(Partial(outDir), "model-*.safetensors").OrderBy(f => f).First();
        using (var stream = new FileStream(shard, FileMode.Open)) stream.SetLength(stream.Length - 1);

        var log = new StringWriter();
        var e = Assert.Throws<RoseException>(() => Run(Options(outDir, resume: true), log: log));
        Assert.That(e!.Message, Does.Contain(Path.GetFileName(shard)).And.Contain("cannot be resumed"));
        Assert.That(log.ToString(), Does.Not.Contain("rerun the same command with --resume"));
    }

    [Test]
    public void ResumeWithNothingSavedIsRefused()
    {
        string outDir = Path.Combine(_dir, "out");
        var e = Assert.Throws<RoseException>(() => Run(Options(outDir, resume: true)));
        Assert.That(e!.Message, Is.EqualTo($"no saved progress for --out {outDir}; run without --resume"));
        Assert.That(Directory.Exists(outDir) || Directory.Exists(Partial(outDir)), Is.False);
    }

    [Test]
    public void CancelBeforeAnyLayerCompletesRemovesThePartialFolder()
    {
        string outDir = Path.Combine(_dir, "out");
        using var cancel = new CancellationTokenSource();
        var hook = new Hook(u => { if (u.Stage.StartsWith("layer 1/", StringComparison.Ordinal)) cancel.Cancel(); });
        var e = Assert.Throws<OperationCanceledException>(() => Run(Options(outDir), hook, cancel.Token));
        Assert.That(e!.Message, Is.EqualTo("nothing was written to the output folder"));
        Assert.That(Directory.Exists(Partial(outDir)), Is.False);
        Assert.That(File.Exists(Partial(outDir) + ".lock"), Is.False);
    }

    [Test]
    public void PartialFolderIsReplacedWithoutResume()
    {
        var reference = Run(Options(Path.Combine(_dir, "reference")));
        string outDir = Path.Combine(_dir, "out");
        RunCancelledAfterFirstLayer(Options(outDir));
        string stale = Path.Combine(Partial(outDir), "stale.txt");
        File.WriteAllText(stale, "left by the interrupted run");

        var log = new StringWriter();
        var fresh = Run(Options(outDir), log: log);
        Assert.That(log.ToString(), Does.Contain($"replacing the unfinished run in {Partial(outDir)}"));
        Assert.That(fresh.ResumedFromLayer, Is.Null);
        Assert.That(File.Exists(Path.Combine(outDir, "stale.txt")), Is.False);
        Assert.That(Directory.Exists(Partial(outDir)), Is.False);
        AssertSameModel(Path.Combine(_dir, "reference"), outDir, reference, fresh);
    }

    [Test]
    public void MagnitudeRunWithoutActivationsResumesToo()
    {
        var options = Options(Path.Combine(_dir, "out")) with { Prune = new PruneOptions(PruneMethod.Magnitude, 0.5, null) };
        var reference = Run(options with { OutputDirectory = Path.Combine(_dir, "reference") });
        RunCancelledAfterFirstLayer(options);
        Assert.That(File.Exists(Path.Combine(Partial(options.OutputDirectory), ResumePoint.ActivationsFileName)), Is.False);
        var resumed = Run(options with { Resume = true });
        AssertSameModel(Path.Combine(_dir, "reference"), options.OutputDirectory, reference, resumed);
    }

    [Test]
    public void WriterReopensExistingShardOnlyWithTheSameLayout()
    {
        string path = Path.Combine(_dir, "part.safetensors");
        TensorSpec[] specs = [new("a", DType.F32, [2, 3]), new("b", DType.BF16, [4])];
        using (var first = new SafeTensorsFileWriter(path, specs))
            first.WriteFloat32("a", [1, 2, 3, 4, 5, 6]);

        using (var again = SafeTensorsFileWriter.OpenExisting(path, specs, ["a"]))
        {
            again.WriteFloat32("b", [7, 8, 9, 10]);
            again.Complete();
        }
        using (var file = SafeTensorsFile.Open(path))
        {
            Assert.That(file.ReadFloat32("a"), Is.EqualTo(new float[] { 1, 2, 3, 4, 5, 6 }), "reopening keeps the bytes written before");
            Assert.That(file.ReadFloat32("b"), Is.EqualTo(new float[] { 7, 8, 9, 10 }));
        }

        using (var missing = SafeTensorsFileWriter.OpenExisting(path, specs, ["a"]))
            Assert.Throws<RoseException>(() => missing.Complete(), "b is not marked written");
        TensorSpec[] other = [new("a", DType.F32, [3, 2]), new("b", DType.BF16, [4])];
        var e = Assert.Throws<RoseException>(() => SafeTensorsFileWriter.OpenExisting(path, other, ["a"]));
        Assert.That(e!.Message, Does.Contain("layout"));
        Assert.Throws<RoseException>(() => CheckpointWriter.OpenExisting(_dir, [new ShardPlan("absent.safetensors", specs)], []));
    }

    [Test]
    public void PruneHelpListsResume()
    {
        var root = new RootCommand { PruneCommand.Create(TextWriter.Null) };
        var help = new StringWriter();
        int code = root.Parse(["prune", "--help"]).Invoke(new InvocationConfiguration { Output = help });
        Assert.That(code, Is.EqualTo(0));
        Assert.That(help.ToString(), Does.Contain("--resume"));
    }
}
