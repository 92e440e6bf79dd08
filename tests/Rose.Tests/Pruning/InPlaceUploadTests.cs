using NUnit.Framework;
using Rose.Pruning;
using Rose.Pruning.Cpu;

namespace Rose.Tests.Pruning;

/// <summary>The host backend prunes a weight in its own array: no 180 MB copy of a 7B matrix each way.</summary>
[TestFixture]
public class InPlaceUploadTests
{
    [Test]
    public void TheHostBackendWorksInTheCallersArray()
    {
        using var backend = new CpuBackend();
        var data = new float[] { 1, -2, 3, -4, 5, -6 };
        using var m = backend.UploadInPlace(data, 2, 3);
        // Magnitude at 50%: the threshold is ascending(|w|)[3] = 4, and ties at it are pruned.
        backend.MagnitudePrune(m, new MaskRule(0.5, null));
        Assert.That(data, Is.EqualTo(new float[] { 0, 0, 0, 0, 5, -6 }), "the prune shows in the caller's array");
        backend.Download(m, data);
        Assert.That(data, Is.EqualTo(new float[] { 0, 0, 0, 0, 5, -6 }), "downloading into the same array changes nothing");
        var other = new float[6];
        backend.Download(m, other);
        Assert.That(other, Is.EqualTo(data));
        Assert.Throws<ArgumentException>(() => backend.UploadInPlace(new float[5], 2, 3));
    }
}
