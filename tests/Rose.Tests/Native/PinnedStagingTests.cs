using NUnit.Framework;
using Rose.Native;

namespace Rose.Tests.Native;

/// <summary>Staged copies through two small pinned chunks, so every size below crosses chunk
/// boundaries, partial last chunks and the double-buffer reuse.</summary>
[TestFixture, Category("Gpu"), NonParallelizable]
public class PinnedStagingTests
{
    private const int ChunkBytes = 4096;

    [TestCase(0)]
    [TestCase(5)]
    [TestCase(1023)]
    [TestCase(1024)]
    [TestCase(2561)]
    [TestCase(5 * 1024 + 3)]
    [TestCase(3 * (1 << 20) + 7)]
    public void RoundTripsThroughTheChunks(int count)
    {
        var context = GpuTestEnvironment.RequireGpu();
        using var stream = context.CreateStream(nonBlocking: false);
        using var staging = new PinnedStaging(context, stream, ChunkBytes);
        var data = new float[count];
        var rng = new Random(count);
        for (int i = 0; i < count; i++) data[i] = (float)rng.NextDouble() - 0.5f;
        using var device = DeviceBuffer<float>.Allocate(context, count + 2);
        device.Fill(-7f);
        staging.Upload<float>(data, device.PointerAt(1));
        var direct = device.ToArray();
        Assert.That(direct[0], Is.EqualTo(-7f), "nothing written before the target");
        Assert.That(direct[^1], Is.EqualTo(-7f), "nothing written after the target");
        Assert.That(direct[1..^1], Is.EqualTo(data), "upload");

        var back = new float[count];
        staging.Download<float>(device.PointerAt(1), back);
        Assert.That(back, Is.EqualTo(data), "download");
    }

    [Test]
    public void ProducedChunksLandAtTheirOffsets()
    {
        var context = GpuTestEnvironment.RequireGpu();
        using var staging = new PinnedStaging(context, null, ChunkBytes);
        const int bytes = 3 * ChunkBytes + 100;
        var offsets = new List<long>();
        using var device = DeviceBuffer<byte>.Allocate(context, bytes);
        staging.Upload(bytes, device.Pointer, (offset, chunk) =>
        {
            offsets.Add(offset);
            for (int i = 0; i < chunk.Length; i++) chunk[i] = (byte)((offset + i) * 31 % 251);
        });
        Assert.That(offsets, Is.EqualTo(new long[] { 0, ChunkBytes, 2 * ChunkBytes, 3 * ChunkBytes }));
        var expected = Enumerable.Range(0, bytes).Select(i => (byte)((long)i * 31 % 251)).ToArray();
        Assert.That(device.ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void ConsumedChunksComeWithTheirOffsets()
    {
        var context = GpuTestEnvironment.RequireGpu();
        using var staging = new PinnedStaging(context, null, ChunkBytes);
        const int bytes = 3 * ChunkBytes + 100;
        var expected = Enumerable.Range(0, bytes).Select(i => (byte)((long)i * 31 % 251)).ToArray();
        using var device = DeviceBuffer<byte>.FromHost(context, expected);
        var offsets = new List<long>();
        var back = new byte[bytes];
        staging.Download(device.Pointer, bytes, (offset, chunk) =>
        {
            offsets.Add(offset);
            chunk.CopyTo(back.AsSpan((int)offset));
        });
        Assert.That(offsets, Is.EqualTo(new long[] { 0, ChunkBytes, 2 * ChunkBytes, 3 * ChunkBytes }));
        Assert.That(back, Is.EqualTo(expected));

        // A consumer that fails leaves the chunks usable by the next call.
        Assert.Throws<InvalidOperationException>(() => staging.Download(device.Pointer, bytes, (offset, _) =>
        {
            if (offset == ChunkBytes) throw new InvalidOperationException("consumer failed");
        }));
        var again = new byte[bytes];
        staging.Download<byte>(device.Pointer, again);
        Assert.That(again, Is.EqualTo(expected));
    }

    [Test]
    public void AFailedProducerLeavesTheChunksReusable()
    {
        var context = GpuTestEnvironment.RequireGpu();
        using var stream = context.CreateStream();
        using var staging = new PinnedStaging(context, stream, ChunkBytes);
        using var scrap = DeviceBuffer<byte>.Allocate(context, 8 * ChunkBytes);
        var failure = Assert.Throws<InvalidOperationException>(() => staging.Upload(8 * ChunkBytes, scrap.Pointer, (offset, chunk) =>
        {
            if (offset == 3 * ChunkBytes) throw new InvalidOperationException("producer failed");
            chunk.Fill(0xAB);
        }));
        Assert.That(failure!.Message, Is.EqualTo("producer failed"));

        // The chunks the failed call queued must be done before this call refills them.
        var data = Enumerable.Range(0, 3 * ChunkBytes / sizeof(int)).Select(i => (uint)i * 2654435761u).ToArray();
        using var device = DeviceBuffer<uint>.Allocate(context, data.Length);
        staging.Upload<uint>(data, device.Pointer);
        var back = new uint[data.Length];
        staging.Download<uint>(device.Pointer, back);
        Assert.That(back, Is.EqualTo(data));
        Assert.That(scrap.ToArray()[..(3 * ChunkBytes)], Is.All.EqualTo((byte)0xAB), "the failed call's queued chunks landed intact");
    }
}
