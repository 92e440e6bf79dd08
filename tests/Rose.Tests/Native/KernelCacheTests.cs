using NUnit.Framework;
using Rose.Cuda;

namespace Rose.Tests.Native;

[TestFixture]
public sealed class KernelCacheTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Path.Combine(Path.GetTempPath(), "rose-kcache-" + Guid.NewGuid().ToString("N"));

    [TearDown]
    public void TearDown()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static readonly KeyValuePair<string, string>[] Headers = [new("h.cuh", "int h;")];

    [Test]
    public void KeyChangesWithEveryInput()
    {
        string[] options = ["--gpu-architecture=sm_80"];
        var baseKey = KernelCache.ComputeKey("src", Headers, options, "11.8");
        var keys = new[]
        {
            KernelCache.ComputeKey("src2", Headers, options, "11.8"),
            KernelCache.ComputeKey("src", [new("h.cuh", "int h2;")], options, "11.8"),
            KernelCache.ComputeKey("src", [new("g.cuh", "int h;")], options, "11.8"),
            KernelCache.ComputeKey("src", Headers, ["--gpu-architecture=sm_90"], "11.8"),
            KernelCache.ComputeKey("src", Headers, options, "13.0"),
        };

        Assert.That(baseKey, Has.Length.EqualTo(64));
        Assert.That(KernelCache.ComputeKey("src", Headers, options, "11.8"), Is.EqualTo(baseKey));
        Assert.That(keys, Has.None.EqualTo(baseKey));
        Assert.That(keys.Distinct().Count(), Is.EqualTo(keys.Length));
    }

    [Test]
    public void WrittenEntryReadsBackWithItsKind()
    {
        var cache = new KernelCache(_dir);
        byte[] image = [0x7f, (byte)'E', (byte)'L', (byte)'F', 1, 2, 3];

        Assert.That(cache.Write("k1", image, isCubin: true), Is.True);
        Assert.That(cache.TryRead("k1", out var read, out var isCubin), Is.True);
        Assert.That(read, Is.EqualTo(image));
        Assert.That(isCubin, Is.True);
        Assert.That(Directory.GetFiles(_dir, "*.tmp"), Is.Empty);
    }

    [Test]
    public void CorruptOrTruncatedEntryIsAMissAndIsDeleted()
    {
        var cache = new KernelCache(_dir);
        cache.Write("flip", [1, 2, 3, 4, 5], isCubin: false);
        cache.Write("cut", [1, 2, 3, 4, 5], isCubin: false);
        var flipped = File.ReadAllBytes(cache.PathFor("flip"));
        flipped[^1] ^= 0xff;
        File.WriteAllBytes(cache.PathFor("flip"), flipped);
        var cut = File.ReadAllBytes(cache.PathFor("cut"));
        File.WriteAllBytes(cache.PathFor("cut"), cut[..^2]);

        Assert.That(cache.TryRead("flip", out _, out _), Is.False);
        Assert.That(cache.TryRead("cut", out _, out _), Is.False);
        Assert.That(File.Exists(cache.PathFor("flip")), Is.False);
        Assert.That(File.Exists(cache.PathFor("cut")), Is.False);
        Assert.That(cache.TryRead("never-written", out _, out _), Is.False);
    }

    [Test]
    public void DefaultDirectoryFollowsXdgCacheHome()
    {
        var saved = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        try
        {
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", _dir);
            Assert.That(KernelCache.DefaultDirectory, Is.EqualTo(Path.Combine(_dir, "rose", "kernels")));
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", null);
            Assert.That(KernelCache.DefaultDirectory, Does.EndWith(Path.Combine(".cache", "rose", "kernels")));
        }
        finally
        {
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", saved);
        }
    }
}
