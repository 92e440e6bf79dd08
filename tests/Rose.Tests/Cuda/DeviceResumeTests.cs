using NUnit.Framework;
using Rose.Data;
using Rose.Pipeline;
using Rose.Pruning;
using Rose.SafeTensors;
using Rose.Synthesis;
using Rose.Tests.Native;
using Rose.Tests.Support;
using static Rose.Tests.Cuda.CudaTestSupport;

namespace Rose.Tests.Cuda;

/// <summary>Nothing is lost when a device prune stops: the resume point holds the activations the
/// device kept (downloaded in the model's dtype), and resuming on the device writes the same bytes as
/// a run that was never interrupted.</summary>
[TestFixture]
[Category("Gpu")]
public sealed class DeviceResumeTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = TinyModelFactory.TempDir("devresume");

    [TearDown]
    public void TearDown()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    private sealed class Hook(Action<ProgressUpdate> action) : IProgress<ProgressUpdate>
    {
        public void Report(ProgressUpdate value) => action(value);
    }

    /// <summary>A three-layer checkpoint in <paramref name="dtype"/>, narrower than tiny (what is tested is the
    /// resume, and its prunes take most of the CPU emulator's time): GQA 2:1 with 64-wide heads, and an
    /// MLP width (344) that leaves down_proj a partial OBS block. Returns its folder.</summary>
    private string ThreeLayerModel(DType dtype, ulong seed)
    {
        string model = Path.Combine(_dir, "model");
        var shape = SyntheticArchitecture.Tiny with { Hidden = 128, Intermediate = 344, Heads = 2, KvHeads = 1, Layers = 3 };
        SyntheticCheckpoint.Write(shape, dtype, model, seed: seed);
        return model;
    }

    /// <summary>Every safetensors file of the reference run is byte-identical in the resumed run's output.</summary>
    private void AssertOutputsIdentical(string reference, string resumed)
    {
        var files = Directory.GetFiles(Path.Combine(_dir, reference), "*.safetensors*").Select(Path.GetFileName).Order().ToArray();
        Assert.That(files, Is.Not.Empty);
        foreach (var file in files)
            Assert.That(File.ReadAllBytes(Path.Combine(_dir, resumed, file!)), Is.EqualTo(File.ReadAllBytes(Path.Combine(_dir, reference, file!))), file);
    }

    [TestCase(DType.BF16, false)]
    [TestCase(DType.F32, true)]
    public void InterruptedDevicePruneResumesToTheSameBytes(DType dtype, bool offloadActivations)
    {
        var gpu = Backend();
        string model = ThreeLayerModel(dtype, seed: 11);
        PruneRunOptions Options(string output, bool resume = false) => new()
        {
            ModelDirectory = model,
            OutputDirectory = Path.Combine(_dir, output),
            Prune = new PruneOptions(PruneMethod.Rose, 0.6, null),
            CalibrationPath = BundledSample.CalibrationText,
            Sampling = CalibrationSampling.Random,
            NSamples = 4,
            SeqLen = 64,
            Seed = 3,
            OffloadActivations = offloadActivations,
            Resume = resume,
        };

        var reference = new PruningPipeline(gpu, TextWriter.Null).Run(Options("reference"));
        // The samples see the activations, the layer and its Hessians in device memory.
        Assert.That(reference.Memory?.GpuPeakUsedGib, Is.GreaterThan(0));

        using (var cancel = new CancellationTokenSource())
        {
            var hook = new Hook(u => { if (u.Stage.StartsWith("layer 3/", StringComparison.Ordinal)) cancel.Cancel(); });
            var e = Assert.Throws<OperationCanceledException>(() => new PruningPipeline(gpu, TextWriter.Null).Run(Options("out"), hook, cancel.Token))!;
            Assert.That(e.Message, Does.StartWith("progress saved after layer 2/3"));
        }
        var resumed = new PruningPipeline(gpu, TextWriter.Null).Run(Options("out", resume: true));

        Assert.That(resumed.Backend, Is.EqualTo("cuda"));
        Assert.That(resumed.ResumedFromLayer, Is.EqualTo(2));
        Assert.That(resumed.Matrices.Select(m => m.Loss), Is.EqualTo(reference.Matrices.Select(m => m.Loss)));
        AssertOutputsIdentical("reference", "out");
    }

    /// <summary>The GPU running out of memory in the middle of a prune (the emulator's driver refuses every
    /// allocation from layer 3 on) ends the run with that error, keeps the two layers done, and the same
    /// command with --resume finishes the model as if nothing had happened.</summary>
    [Test]
    public void OutOfMemoryMidRunKeepsTheLayersDoneAndResumes()
    {
        var gpu = Backend();
        if (!GpuTestEnvironment.OnEmulator)
            Assert.Ignore("injecting an out-of-memory needs the CPU emulator's driver (tests/CudaEmulator)");
        string model = ThreeLayerModel(DType.BF16, seed: 12);
        PruneRunOptions Options(string output, bool resume = false) => new()
        {
            ModelDirectory = model,
            OutputDirectory = Path.Combine(_dir, output),
            Prune = new PruneOptions(PruneMethod.SparseGpt, 0.5, null),
            CalibrationPath = BundledSample.CalibrationText,
            Sampling = CalibrationSampling.Sequential,
            NSamples = 4,
            SeqLen = 64,
            Resume = resume,
        };
        new PruningPipeline(gpu, TextWriter.Null).Run(Options("reference"));

        var log = new StringWriter();
        var hook = new Hook(u => { if (u.Stage.StartsWith("layer 3/", StringComparison.Ordinal)) EmulatorDriver.FailAllocationsAfter(0); });
        try
        {
            var e = Assert.Catch(() => new PruningPipeline(gpu, log).Run(Options("out"), hook))!;
            var cuda = e as Rose.Native.CudaException ?? e.InnerException as Rose.Native.CudaException;
            Assert.That(cuda?.StatusName, Is.AnyOf("CUDA_ERROR_OUT_OF_MEMORY", "CUBLAS_STATUS_ALLOC_FAILED"), e.ToString());
        }
        finally
        {
            EmulatorDriver.FailAllocationsAfter(-1);
        }
        Assert.That(log.ToString(), Does.Contain("progress saved after layer 2/3"));

        var resumed = new PruningPipeline(gpu, TextWriter.Null).Run(Options("out", resume: true));
        Assert.That(resumed.ResumedFromLayer, Is.EqualTo(2));
        AssertOutputsIdentical("reference", "out");
    }
}
