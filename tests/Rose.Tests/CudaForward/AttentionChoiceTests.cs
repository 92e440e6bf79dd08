using NUnit.Framework;
using Rose.Cuda.Forward;
using Rose.Native;
using Rose.SafeTensors;
using Rose.Tests.Cuda;
using Rose.Tests.Native;

namespace Rose.Tests.CudaForward;

/// <summary>Which attention kernel a 16-bit model runs on: ROSE_ATTENTION forces one; by default the
/// tensor-core kernel wherever a probe on the device finds it agreeing with the fp32 kernel.</summary>
[TestFixture, NonParallelizable]
public sealed class AttentionChoiceTests
{
    [TestCase("mma", true)]
    [TestCase("SIMT", false)]
    [TestCase(" auto ", null)]
    [TestCase("", null)]
    [TestCase(null, null)]
    public void TheVariableNamesAKernelOrLeavesItToTheProbe(string? value, bool? expected) =>
        Assert.That(ForwardKernels.ParseAttentionChoice(value), Is.EqualTo(expected));

    [Test]
    public void AMistypedChoiceIsAnErrorNamingTheVariable()
    {
        var e = Assert.Throws<RoseException>(() => ForwardKernels.ParseAttentionChoice("flash"));
        Assert.That(e!.Message, Does.Contain("ROSE_ATTENTION").And.Contain("flash"));
    }

    [Test]
    public void AProbeAgreesOnlyWithinItsTolerance()
    {
        Assert.That(new AttentionProbe(DType.BF16, 64, 0.01, 0.03).Agrees, Is.True);
        Assert.That(new AttentionProbe(DType.BF16, 64, 0.3, 0.03).Agrees, Is.False);
        Assert.That(new AttentionProbe(DType.BF16, 64, double.PositiveInfinity, 0.03).Agrees, Is.False);
    }

    /// <summary>The two kernels differ (the tensor-core one rounds the probabilities) but by rounding only;
    /// the probe runs once per dtype and head size.</summary>
    [TestCase(DType.BF16, 64)]
    [TestCase(DType.BF16, 128)]
    [TestCase(DType.F16, 64)]
    [TestCase(DType.F16, 128)]
    [Category("Gpu")]
    public void TheProbeFindsTheKernelsApartByRoundingOnly(DType dtype, int headDim)
    {
        var context = GpuTestEnvironment.RequireGpu();
        var kernels = ForwardKernelTests.Kernels(context);
        var probe = kernels.ProbeTensorCores(dtype, headDim);
        TestContext.Out.WriteLine(probe);
        Assert.That(probe.MaxDifference, Is.GreaterThan(0), "the kernels round differently");
        Assert.That(probe.Agrees, Is.True, $"max |Δ| {probe.MaxDifference} within {probe.Tolerance}");
        Assert.That(kernels.ProbeTensorCores(dtype, headDim), Is.SameAs(probe), "cached");
        Assert.Throws<ArgumentException>(() => kernels.ProbeTensorCores(DType.F32, headDim));
    }

    /// <summary>With no choice made, a bf16 attention launches the tensor-core kernel (the probe agrees on
    /// the emulator); a choice of the fp32 kernel launches that one. Read from the emulator's census.</summary>
    [Test, Category("Gpu")]
    public void TheDefaultFollowsTheProbe()
    {
        var context = GpuTestEnvironment.RequireGpu();
        if (!GpuTestEnvironment.OnEmulator) Assert.Ignore("the census counts the CPU emulator's launches; a GPU keeps none");
        var kernels = ForwardKernelTests.Kernels(context);
        bool? saved = ForwardKernels.TensorCoreAttentionByDefault;
        const int tokens = 20, heads = 2, headDim = 64;
        using var x = DeviceBuffer<float>.FromHost(context, ForwardKernelTests.Random(tokens * heads * headDim, 3));
        using var output = DeviceBuffer<byte>.Allocate(context, tokens * heads * headDim * 2);
        long Launches(bool? choice, string kernel)
        {
            ForwardKernels.TensorCoreAttentionByDefault = choice;
            kernels.ProbeTensorCores(DType.BF16, headDim);
            EmulatorDriver.ResetCensus();
            kernels.Attention(DType.BF16, output.Pointer, x.Pointer, x.Pointer, x.Pointer, 1, tokens, heads, heads, headDim);
            context.Synchronize();
            return EmulatorDriver.Census().TryGetValue("launch " + kernel, out var e) ? e.Calls : 0;
        }
        try
        {
            Assert.That(Launches(null, "rose_attention_mma_bf16_64"), Is.EqualTo(1), "default: tensor cores, the probe agreeing");
            Assert.That(Launches(false, "rose_attention_bf16"), Is.EqualTo(1), "ROSE_ATTENTION=simt");
            Assert.That(Launches(true, "rose_attention_mma_bf16_64"), Is.EqualTo(1), "ROSE_ATTENTION=mma");
        }
        finally
        {
            ForwardKernels.TensorCoreAttentionByDefault = saved;
        }
    }
}
