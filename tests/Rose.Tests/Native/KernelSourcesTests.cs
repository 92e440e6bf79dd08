using NUnit.Framework;
using Rose.Cuda;

namespace Rose.Tests.Native;

[TestFixture]
public sealed class KernelSourcesTests
{
    [Test]
    public void SmokeKernelAndCommonHeaderAreEmbedded()
    {
        Assert.That(KernelSources.KernelFiles, Does.Contain("smoke.cu"));
        Assert.That(KernelSources.Headers.Select(h => h.Key), Does.Contain("rose_common.cuh"));
        Assert.That(KernelSources.Get("smoke"), Does.Contain("rose_smoke_axpy"));
    }

    [Test]
    public void EmbeddedTextsMatchTheFilesInTheRepository()
    {
        var kernels = FindKernelsFolder();
        foreach (var file in Directory.GetFiles(kernels, "*.cu*"))
        {
            Assert.That(KernelSources.Get(Path.GetFileName(file)), Is.EqualTo(File.ReadAllText(file)), file);
        }
    }

    [Test]
    public void CommonHeaderIncludesNoToolkitHeaders()
    {
        // Debian's NVRTC 11.8 has no cuda_fp16.h / cuda_bf16.h; any #include <...> would break compiles there.
        foreach (var (name, text) in KernelSources.All)
        {
            Assert.That(text, Does.Not.Contain("#include <"), name);
        }
    }

    [Test]
    public void UnknownKernelNameIsAOneLineRoseException()
    {
        var e = Assert.Throws<RoseException>(() => KernelSources.Get("no_such_kernel.cu"));
        Assert.That(e!.Message, Does.Contain("no_such_kernel.cu").And.Not.Contain("\n"));
    }

    private static string FindKernelsFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "kernels");
            if (File.Exists(Path.Combine(candidate, "rose_common.cuh")))
            {
                return candidate;
            }
        }

        Assert.Ignore("kernels/ folder not found above the test binaries");
        return "";
    }
}
