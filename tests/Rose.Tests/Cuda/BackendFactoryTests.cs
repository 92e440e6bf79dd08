using NUnit.Framework;
using Rose.Cuda;
using Rose.Native;
using Rose.Pruning;
using Rose.Pruning.Cpu;

namespace Rose.Tests.Cuda;

[TestFixture]
public sealed class BackendFactoryTests
{
    private static bool CudaUsable(out string why)
    {
        if (!CudaBackend.TryCreate(0, out var backend, out why)) return false;
        backend!.Dispose();
        return true;
    }

    [Test]
    public void CpuIsAlwaysTheCpuBackend()
    {
        using var backend = BackendFactory.Create("cpu");
        Assert.That(backend, Is.InstanceOf<CpuBackend>());
        Assert.That(backend.Name, Is.EqualTo("cpu"));
    }

    [Test]
    public void UnknownDeviceIsARoseException()
    {
        var e = Assert.Throws<RoseException>(() => BackendFactory.Create("tpu"));
        Assert.That(e!.Message, Does.Contain("tpu").And.Contain("auto, cpu, cuda"));
    }

    [TestCase("cuda:")]
    [TestCase("cuda:x")]
    [TestCase("cuda:-1")]
    [TestCase("cuda: 1")]
    public void MalformedDeviceNumberIsARoseException(string device)
    {
        var e = Assert.Throws<RoseException>(() => BackendFactory.Create(device));
        Assert.That(e!.Message, Does.Contain(device).And.Contain("cuda:1").And.Not.Contain('\n'));
    }

    /// <summary>A device number past the last GPU (or no GPU at all) names the device asked for and why.</summary>
    [Test]
    public void NumberedDeviceThatIsNotThereIsARoseExceptionNamingWhy()
    {
        var e = Assert.Throws<RoseException>(() => BackendFactory.Create("cuda:999"));
        Assert.That(e!.Message, Does.StartWith("--device cuda:999: the CUDA backend is unusable: ").And.Not.Contain('\n'));
    }

    [Test]
    public void AutoPicksCudaWhenUsableElseCpuWithOneNotice()
    {
        var notices = new List<string>();
        bool usable = CudaUsable(out var why);
        using var backend = BackendFactory.Create("auto", notices.Add);
        if (usable)
        {
            Assert.That(backend, Is.InstanceOf<CudaBackend>());
            Assert.That(notices, Is.Empty);
        }
        else
        {
            Assert.That(backend, Is.InstanceOf<CpuBackend>());
            Assert.That(notices, Has.Count.EqualTo(1));
            Assert.That(notices[0], Does.Contain("CPU").And.Contain(why));
            Assert.That(notices[0], Does.Not.Contain('\n'));
        }
    }

    [Test]
    public void CudaWithoutAUsableGpuIsARoseExceptionNamingWhy()
    {
        if (CudaUsable(out var why))
        {
            using var backend = BackendFactory.Create("CUDA");
            Assert.That(backend.Name, Is.EqualTo("cuda"));
            return;
        }
        var e = Assert.Throws<RoseException>(() => BackendFactory.Create("cuda"));
        Assert.That(e!.Message, Does.Contain(why));
        Assert.That(why, Is.Not.Empty);
    }

    [Test]
    public void NoDriverReasonComesFromTheDriver()
    {
        if (CudaDriver.TryInitialize(out var why))
            Assert.Ignore("a CUDA driver is present");
        Assert.That(CudaBackend.TryCreate(0, out var backend, out var reason), Is.False);
        Assert.That(backend, Is.Null);
        Assert.That(reason, Is.EqualTo(why));
    }
}
