using NUnit.Framework;
using Rose.Cuda;
using Rose.Cuda.Forward;
using Rose.Evaluation;
using Rose.Modeling;
using Rose.Native;
using Rose.SafeTensors;
using Rose.Synthesis;
using Rose.Tests.Native;
using Rose.Tests.Support;

namespace Rose.Tests.CudaForward;

/// <summary>Whole decoder layers and whole-model perplexity on the GPU against the CPU path.</summary>
[TestFixture]
[Category("Gpu")]
public sealed class CudaForwardModelTests
{
    private readonly List<string> _dirs = [];

    [TearDown]
    public void CleanUp()
    {
        foreach (var d in _dirs)
            if (Directory.Exists(d)) Directory.Delete(d, recursive: true);
        _dirs.Clear();
    }

    [TestCase(false, 1, 0)]
    [TestCase(true, 130, 0)]
    [TestCase(false, 130, 9)]
    public void DecoderLayerMatchesCpu(bool qkvBias, int tokens, int slidingWindow)
    {
        var context = GpuTestEnvironment.RequireGpu();
        var kernels = ForwardKernelTests.Kernels(context);
        var dir = TinyModelFactory.TempDir("cuda-layer");
        _dirs.Add(dir);
        TinyModelFactory.Create(new TinyModelSpec
        {
            Hidden = 64, Intermediate = 96, Heads = 8, KvHeads = 2, QkvBias = qkvBias, MaxPositions = 256,
            ModelType = slidingWindow > 0 ? "mistral" : "llama",
            ExtraConfig = slidingWindow > 0 ? new System.Text.Json.Nodes.JsonObject { ["sliding_window"] = slidingWindow } : null,
        }, dir);
        using var model = LlamaModel.Open(dir);
        var weights = model.LoadLayer(1);
        Assert.That(weights.AttentionWindow, Is.EqualTo(slidingWindow > 0 ? slidingWindow : null));
        var x = ForwardKernelTests.Random(tokens * model.Shape.Hidden, 21);
        var expected = (float[])x.Clone();
        new DecoderLayerForward(model.Shape, model.Rope).Run(weights, expected, tokens);

        using var blas = new CublasHandle(context);
        using var forward = new CudaLayerForward(context, kernels, blas, model.Shape, model.Config.InverseFrequencies(), DType.F32);
        using var device = CudaLayerWeights.Upload(context, weights, DType.F32);
        using var hidden = DeviceBuffer<byte>.FromHost(context, System.Runtime.InteropServices.MemoryMarshal.AsBytes(x.AsSpan()));
        forward.Run(device, hidden, 1, tokens);
        var actual = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(hidden.ToArray().AsSpan()).ToArray();
        for (int i = 0; i < expected.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]).Within(1e-4 + 1e-4 * Math.Abs(expected[i])), $"element {i}");
    }

    [Test]
    public void BundledSamplePerplexityMatchesCpu()
    {
        var context = GpuTestEnvironment.RequireGpu();
        GpuTestEnvironment.SkipOnEmulator("192 windows of 512 tokens through emulated attention take hours; " +
            "SyntheticHalfPrecisionModelMatchesCpu and SamplePerplexityOverAFewWindowsMatchesCpu run the same evaluator on less");
        GpuTestEnvironment.RequireNvrtc();
        using var model = LlamaModel.Open(BundledSample.ModelDirectory);
        var text = File.ReadAllText(BundledSample.EvalText);
        var gpu = new CudaPerplexityEvaluator(model, context) { Compiler = new KernelCompiler(cache: null) }.Evaluate(text, seqLen: 512);
        var cpu = new PerplexityEvaluator(model).Evaluate(text, seqLen: 512);
        TestContext.Out.WriteLine($"CUDA {gpu.Perplexity:F4} ({gpu.Seconds:F2} s), CPU {cpu.Perplexity:F4} ({cpu.Seconds:F2} s), {gpu.Windows} windows");
        Assert.That(gpu.Windows, Is.EqualTo(cpu.Windows));
        Assert.That(gpu.Perplexity, Is.EqualTo(cpu.Perplexity).Within(0.5).Percent);
        Assert.That(gpu.Perplexity, Is.EqualTo(6.0513).Within(0.5).Percent);
    }

    /// <summary>The bundled sample's fp32 evaluation on a few short windows, small enough for the CPU emulator.</summary>
    [Test]
    public void SamplePerplexityOverAFewWindowsMatchesCpu()
    {
        var context = GpuTestEnvironment.RequireGpu();
        GpuTestEnvironment.RequireNvrtc();
        using var model = LlamaModel.Open(BundledSample.ModelDirectory);
        var text = File.ReadAllText(BundledSample.EvalText);
        var gpu = new CudaPerplexityEvaluator(model, context) { Compiler = new KernelCompiler(cache: null) }.Evaluate(text, seqLen: 96, maxWindows: 3);
        var cpu = new PerplexityEvaluator(model).Evaluate(text, seqLen: 96, maxWindows: 3);
        Assert.That(gpu.Windows, Is.EqualTo(3));
        Assert.That(gpu.Perplexity, Is.EqualTo(cpu.Perplexity).Within(0.01).Percent);
    }

    [TestCase(DType.BF16)]
    [TestCase(DType.F16)]
    public void SyntheticHalfPrecisionModelMatchesCpu(DType dtype)
    {
        var context = GpuTestEnvironment.RequireGpu();
        GpuTestEnvironment.RequireNvrtc();
        var dir = TinyModelFactory.TempDir("cuda-synth");
        _dirs.Add(dir);
        SyntheticCheckpoint.Write("tiny", dtype, dir, layersOverride: 2, seed: 3);
        using var model = LlamaModel.Open(dir);
        var text = string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 40));
        var evaluator = new CudaPerplexityEvaluator(model, context) { Compiler = new KernelCompiler(cache: null), BatchTokens = 256 };
        Assert.That(CudaPerplexityEvaluator.DTypeOf(model), Is.EqualTo(dtype));
        var gpu = evaluator.Evaluate(text, seqLen: 256);
        var cpu = new PerplexityEvaluator(model).Evaluate(text, seqLen: 256);
        Assert.That(gpu.Windows, Is.GreaterThan(1), "several batches of one window each");
        // Both round to the model dtype at the same points; fp32 sum orders and library functions differ.
        Assert.That(gpu.Perplexity, Is.EqualTo(cpu.Perplexity).Within(1).Percent);
    }
}
