using System.CommandLine;
using NUnit.Framework;
using Rose.Cli;
using Rose.Cuda;
using Rose.Tests.Native;

namespace Rose.Tests.Cuda;

[TestFixture, NonParallelizable]
public sealed class DoctorCommandTests
{
    private static (int Code, string Out) Run(params string[] args)
    {
        var writer = new StringWriter();
        var root = new RootCommand { DoctorCommand.Create(writer) };
        int code = root.Parse(args).Invoke();
        return (code, writer.ToString());
    }

    [Test]
    public void CompileOnlyForHopperCompilesEveryKernel()
    {
        GpuTestEnvironment.RequireNvrtc();
        var (code, output) = Run("doctor", "--compile-only", "--arch", "sm_90");
        Assert.That(code, Is.EqualTo(0), output);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var file in KernelSources.KernelFiles)
            Assert.That(lines.Any(l => l.StartsWith(file + " ", StringComparison.Ordinal) && l.Contains(" ok ") && l.Contains("sm_90 cubin")),
                Is.True, $"no ok line for {file} in:\n{output}");
        Assert.That(output, Does.Not.Contain("FAILED"));
        Assert.That(output, Does.Contain("obs.cu").And.Contain("masks.cu").And.Contain("scores.cu"));
    }

    [Test]
    public void CompileOnlyDefaultsToAmpere()
    {
        GpuTestEnvironment.RequireNvrtc();
        var (code, output) = Run("doctor", "--compile-only");
        Assert.That(code, Is.EqualTo(0), output);
        Assert.That(output, Does.Contain("sm_80 cubin"));
    }

    [Test]
    public void MalformedArchitectureExitsWithOne()
    {
        GpuTestEnvironment.RequireNvrtc();
        Assert.That(Run("doctor", "--compile-only", "--arch", "gfx90a").Code, Is.EqualTo(1));
    }

    [Test]
    public void FullReportNamesTheLibrariesAndExitsCleanly()
    {
        var (code, output) = Run("doctor");
        Assert.That(code, Is.EqualTo(0).Or.EqualTo(1), output);
        Assert.That(output, Does.Contain("driver").And.Contain("nvrtc").And.Contain("cusolver"));
        Assert.That(output, Does.Contain(code == 0 ? "is usable" : "NOT usable"));
    }

    [Test, Category("Gpu")]
    public void FullReportOnADeviceNamesTheAttentionKernelOfEach16BitDtype()
    {
        GpuTestEnvironment.RequireGpu();
        GpuTestEnvironment.RequireNvrtc();
        var (code, output) = Run("doctor");
        Assert.That(code, Is.EqualTo(0), output);
        Assert.That(output, Does.Contain("attention bf16: ").And.Contain("attention f16: "));
        Assert.That(output, Does.Contain("head_dim 64: max |Δ|").And.Contain("head_dim 128: max |Δ|"));
    }
}
