using System.Buffers.Binary;
using NUnit.Framework;
using Rose.Modeling;
using Rose.Pipeline;
using Rose.Pruning;
using Rose.Pruning.Cpu;
using Rose.SafeTensors;
using Rose.Tests.Support;

namespace Rose.Tests.Pipeline;

[TestFixture]
public class OutputSpaceTests
{
    private const int NSamples = 4, SeqLen = 16;
    private string _dir = "";
    private string _model = "";

    [SetUp]
    public void SetUp()
    {
        _dir = TinyModelFactory.TempDir("space");
        _model = TinyModelFactory.Create(new TinyModelSpec { Vocab = 300 }, Path.Combine(_dir, "model"));
        ByteLevelTokenizerFixture.Write(_model);
    }

    [TearDown] public void TearDown() { if (Directory.Exists(_dir)) Directory.Delete(_dir, true); }

    private PruneRunOptions Options(PruneMethod method, long? diskLimit = null)
    {
        var rng = new Random(5);
        string calib = Path.Combine(_dir, "calib.txt");
        File.WriteAllText(calib, string.Join("\n\n", Enumerable.Range(0, 20).Select(_ =>
            string.Join(' ', Enumerable.Range(0, 30).Select(_ => (char)('a' + rng.Next(26)) + "x")))));
        return new PruneRunOptions
        {
            ModelDirectory = _model, OutputDirectory = Path.Combine(_dir, "out"),
            Prune = new PruneOptions(method, 0.5, null), CalibrationPath = calib,
            Sampling = CalibrationSampling.Sequential, NSamples = NSamples, SeqLen = SeqLen, DiskLimitBytes = diskLimit,
        };
    }

    private OutputSpace SpaceOf(bool resumed, int firstLayer, long activationBytes)
    {
        using var model = LlamaModel.Open(_model);
        return OutputSpace.Of(model, resumed, firstLayer, activationBytes);
    }

    private long ActivationBytes()
    {
        using var model = LlamaModel.Open(_model);
        return CalibrationRunner.StateBytes(model.Shape, NSamples, SeqLen, model.ActivationDType);
    }

    [Test]
    public void TheTensorsAndFilesCountedAreWhatARunWrites()
    {
        var space = SpaceOf(resumed: false, 0, 0);
        new PruningPipeline(new CpuBackend(), TextWriter.Null).Run(Options(PruneMethod.Magnitude));

        string output = Path.Combine(_dir, "out");
        long data = 0;
        var length = new byte[8];
        foreach (var shard in Directory.GetFiles(output, "*.safetensors"))
        {
            // A safetensors file is an 8-byte header length, the JSON header, then the tensors' bytes.
            using var stream = File.OpenRead(shard);
            stream.ReadExactly(length);
            data += stream.Length - 8 - (long)BinaryPrimitives.ReadUInt64LittleEndian(length);
        }
        long others = OutputFolder.SideFiles(output).Sum(file => new FileInfo(file).Length);
        Assert.That(space.TensorBytes, Is.EqualTo(data));
        Assert.That(space.OtherFileBytes, Is.EqualTo(others).And.GreaterThan(0));
    }

    [Test]
    public void AResumedRunNeedsTheLayersLeftAndOneMoreCopyOfTheActivations()
    {
        var fresh = SpaceOf(resumed: false, 0, 1000);
        var resumed = SpaceOf(resumed: true, 1, 1000);
        var resumedInLayer0 = SpaceOf(resumed: true, 0, 1000);
        long layersLeft;
        using (var model = LlamaModel.Open(_model))
            layersLeft = Enumerable.Range(1, model.LayerCount - 1)
                .SelectMany(l => model.Checkpoint.TensorNames.Where(n => n.StartsWith($"model.layers.{l}.", StringComparison.Ordinal)))
                .Sum(n => model.Checkpoint.GetInfo(n).ByteLength);

        Assert.That(layersLeft, Is.GreaterThan(0));
        Assert.That(resumed.TensorBytes, Is.EqualTo(layersLeft));
        Assert.That(resumed.TensorBytes, Is.LessThan(fresh.TensorBytes));
        Assert.That(resumed.OtherFileBytes, Is.Zero, "the side files are copied once, by the fresh run");
        Assert.That((fresh.ResumePointBytes, resumed.ResumePointBytes), Is.EqualTo((2000L, 1000L)));
        Assert.That((resumedInLayer0.OtherFileBytes, resumedInLayer0.ResumePointBytes), Is.EqualTo((0L, 1000L)),
            "a run stopped inside layer 0 has its side files and first resume point on disk");
        Assert.That(resumedInLayer0.TensorBytes, Is.LessThan(fresh.TensorBytes), "and the tensors outside the layers");
    }

    [Test]
    public void TooLittleDiskIsRefusedUpFrontNamingTheFolderAndTheSizes()
    {
        long needed = SpaceOf(resumed: false, 0, ActivationBytes()).Needed;

        var e = Assert.Throws<RoseException>(() =>
            new PruningPipeline(new CpuBackend(), TextWriter.Null).Run(Options(PruneMethod.SparseGpt, needed - 1)));
        Assert.That(e!.Message, Does.Contain(OutputFolder.PartialPathFor(Path.Combine(_dir, "out")))
            .And.Contain($"needs {ByteSize.Format(needed)} of disk")
            .And.Contain($"only {ByteSize.Format(needed - 1)} is free")
            .And.Contain("resume points' calibration activations"));
        Assert.That(Directory.GetDirectories(_dir).Select(Path.GetFileName), Is.EquivalentTo(new[] { "model" }),
            "nothing is left behind");

        var report = new PruningPipeline(new CpuBackend(), TextWriter.Null).Run(Options(PruneMethod.SparseGpt, needed));
        Assert.That(report.OverallSparsity, Is.GreaterThan(0.4), "exactly the bytes needed are enough");
    }

    [Test]
    public void FreeBytesReadsTheFileSystemOfAFolder() =>
        Assert.That(OutputSpace.FreeBytes(_dir), Is.GreaterThan(0));
}
