using NUnit.Framework;
using Rose.SafeTensors;

namespace Rose.Tests.SafeTensors;

[TestFixture]
public class ParallelConversionTests
{
    [TestCase(DType.BF16)]
    [TestCase(DType.F16)]
    [TestCase(DType.F32)]
    public void SplitConversionEqualsTheSerialOne(DType dtype)
    {
        // Several chunks and a ragged tail, with values that round (ties, subnormals, NaN, ±inf).
        int n = 3 * (1 << 20) + 17;
        var rng = new Random(7);
        var values = new float[n];
        for (int i = 0; i < n; i++)
            values[i] = (i % 1000) switch
            {
                0 => float.NaN,
                1 => float.PositiveInfinity,
                2 => -0f,
                3 => 1e-40f,
                _ => (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-20, 20))),
            };
        var serial = new byte[n * dtype.ElementSize()];
        var parallel = new byte[serial.Length];
        FloatConversion.FromSingle(dtype, values, serial);
        ParallelConversion.FromSingle(dtype, values, parallel);
        Assert.That(parallel, Is.EqualTo(serial));

        // And back: widening the stored bytes split over cores gives the serial widening, bit for bit.
        var serialBack = new float[n];
        var parallelBack = new float[n];
        FloatConversion.ToSingle(dtype, serial, serialBack);
        ParallelConversion.ToSingle(dtype, serial, parallelBack);
        Assert.That(Bits(parallelBack), Is.EqualTo(Bits(serialBack)));
    }

    private static int[] Bits(float[] values) => Array.ConvertAll(values, BitConverter.SingleToInt32Bits);

    [Test]
    public void MismatchedLengthsAreRejected()
    {
        Assert.Throws<ArgumentException>(() => ParallelConversion.FromSingle(DType.BF16, new float[4], new byte[6]));
        Assert.Throws<ArgumentException>(() => ParallelConversion.ToSingle(DType.F16, new byte[6], new float[4]));
    }
}
