using NUnit.Framework;
using Rose.Cuda.Forward;
using Rose.SafeTensors;

namespace Rose.Tests.Pipeline;

/// <summary>The host side of an upload without staging (lm_head, the evaluator's embedding table):
/// converted and copied in slices, so tables past 2 GiB in the dtype work.</summary>
[TestFixture]
public class UnstagedUploadSlicingTests
{
    [TestCase(DType.BF16, 0)]
    [TestCase(DType.BF16, 5)]
    [TestCase(DType.F16, 21)]
    [TestCase(DType.F32, 22)]
    [TestCase(DType.BF16, 70)]
    public void SlicesConcatenateToTheWholeConversion(DType dtype, int count)
    {
        var rng = new Random(count);
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)(rng.NextDouble() * 8 - 4);
        int size = dtype.ElementSize();
        var expected = new byte[count * size];
        FloatConversion.FromSingle(dtype, values, expected);

        var assembled = new byte[count * size];
        var offsets = new List<long>();
        DeviceLinear.ConvertInSlices(values, dtype, 7, (offset, bytes) =>
        {
            offsets.Add(offset);
            bytes.CopyTo(assembled.AsSpan(checked((int)offset)));
        });
        Assert.That(assembled, Is.EqualTo(expected));
        Assert.That(offsets, Is.EqualTo(Enumerable.Range(0, (count + 6) / 7).Select(i => (long)i * 7 * size)));
    }

    /// <summary>A table of almost int.MaxValue fp32 values (8 GiB): byte offsets pass 2^31 and the last
    /// slice's start plus the slice length passes int.MaxValue. fp32 slices are handed over as views,
    /// never read, so a span over address space nobody touches is enough to check the arithmetic.</summary>
    [Test]
    public unsafe void OffsetsOfATableNearIntMaxValueDoNotOverflow()
    {
        int count = int.MaxValue - 5;
        var values = new ReadOnlySpan<float>((void*)0x10000, count);
        long next = 0;
        int slices = 0;
        DeviceLinear.ConvertInSlices(values, DType.F32, DeviceLinear.UploadSliceValues, (offset, bytes) =>
        {
            Assert.That(offset, Is.EqualTo(next));
            next = offset + bytes.Length;
            slices++;
        });
        Assert.That(next, Is.EqualTo(4L * count));
        Assert.That(slices, Is.EqualTo((int)((count + (long)DeviceLinear.UploadSliceValues - 1) / DeviceLinear.UploadSliceValues)));
    }
}
