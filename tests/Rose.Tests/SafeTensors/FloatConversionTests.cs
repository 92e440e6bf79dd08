using NUnit.Framework;
using Rose.SafeTensors;

namespace Rose.Tests.SafeTensors;

[TestFixture]
public class FloatConversionTests
{
    /// <summary>Reference RNE: picks the nearer of the two bfloat16 neighbours using double
    /// arithmetic, the even one on a tie. Independent of the bit trick under test.</summary>
    private static ushort ReferenceBFloat16(float x)
    {
        if (float.IsNaN(x)) return 0x7FC0;
        uint bits = BitConverter.SingleToUInt32Bits(x);
        ushort truncated = (ushort)(bits >> 16);
        if ((bits & 0xFFFF) == 0) return truncated;
        ushort away = (ushort)(truncated + 1); // next representable value away from zero
        double lo = Math.Abs((double)FloatConversion.BFloat16ToSingle(truncated));
        double hi = Math.Abs((double)FloatConversion.BFloat16ToSingle(away));
        double ax = Math.Abs((double)x);
        double dLo = ax - lo, dHi = hi - ax;
        if (dLo < dHi) return truncated;
        if (dHi < dLo) return away;
        return (truncated & 1) == 0 ? truncated : away;
    }

    [TestCase(1.0f, (ushort)0x3F80)]
    [TestCase(-2.0f, (ushort)0xC000)]
    [TestCase(0.0f, (ushort)0x0000)]
    [TestCase(-0.0f, (ushort)0x8000)]
    [TestCase(float.PositiveInfinity, (ushort)0x7F80)]
    [TestCase(float.NegativeInfinity, (ushort)0xFF80)]
    public void ExactValuesConvertExactly(float value, ushort expected)
    {
        Assert.That(FloatConversion.SingleToBFloat16(value), Is.EqualTo(expected));
        Assert.That(FloatConversion.BFloat16ToSingle(expected), Is.EqualTo(value));
    }

    [TestCase(0x3F808000u, (ushort)0x3F80)] // 1 + 2^-8: tie, stays on even 0x3F80
    [TestCase(0x3F818000u, (ushort)0x3F82)] // 1 + 3*2^-8: tie, odd 0x3F81 rounds up to even
    [TestCase(0xBF818000u, (ushort)0xBF82)] // negative tie rounds away to even too
    [TestCase(0x3F808001u, (ushort)0x3F81)] // just above the tie rounds up
    [TestCase(0x3F807FFFu, (ushort)0x3F80)] // just below the tie rounds down
    [TestCase(0x7F7FFFFFu, (ushort)0x7F80)] // float max rounds to +inf
    [TestCase(0x00018000u, (ushort)0x0002)] // subnormal tie, odd rounds up to even
    public void RoundsToNearestEven(uint bits, ushort expected)
    {
        var value = BitConverter.UInt32BitsToSingle(bits);
        Assert.That(FloatConversion.SingleToBFloat16(value), Is.EqualTo(expected));
        var vectorOut = new ushort[33];
        FloatConversion.SingleToBFloat16(Enumerable.Repeat(value, 33).ToArray(), vectorOut);
        Assert.That(vectorOut, Is.All.EqualTo(expected));
    }

    [TestCase(0x7FC00000u)]
    [TestCase(0x7F800001u)] // signalling NaN whose payload would truncate to infinity
    [TestCase(0xFFFFFFFFu)]
    public void NaNBecomesCanonicalQuietNaN(uint bits)
    {
        var nan = BitConverter.UInt32BitsToSingle(bits);
        Assert.That(FloatConversion.SingleToBFloat16(nan), Is.EqualTo((ushort)0x7FC0));
        var dst = new ushort[40];
        FloatConversion.SingleToBFloat16(Enumerable.Repeat(nan, 40).ToArray(), dst);
        Assert.That(dst, Is.All.EqualTo((ushort)0x7FC0));
    }

    [Test]
    public void VectorAndScalarBFloat16AgreeWithReference()
    {
        var rng = new Random(1234);
        var values = new float[1003];
        for (int i = 0; i < values.Length; i++)
        {
            // Random bit patterns cover every exponent, subnormals and ties at random.
            values[i] = BitConverter.Int32BitsToSingle(rng.Next() ^ (rng.Next(2) << 31));
            if (i % 7 == 0) values[i] = (float)(rng.NextDouble() * 200 - 100);
        }
        var packed = new ushort[values.Length];
        FloatConversion.SingleToBFloat16(values, packed);
        for (int i = 0; i < values.Length; i++)
        {
            var expected = ReferenceBFloat16(values[i]);
            if (float.IsFinite(values[i]) && Math.Abs(values[i]) > 3.38e38f) continue; // reference cannot see past max
            Assert.That(packed[i], Is.EqualTo(expected), $"value {values[i]:R} (0x{BitConverter.SingleToUInt32Bits(values[i]):X8})");
            Assert.That(FloatConversion.SingleToBFloat16(values[i]), Is.EqualTo(expected));
        }

        var widened = new float[values.Length];
        FloatConversion.BFloat16ToSingle(packed, widened);
        for (int i = 0; i < values.Length; i++)
            Assert.That(BitConverter.SingleToUInt32Bits(widened[i]), Is.EqualTo((uint)packed[i] << 16));
    }

    [Test]
    public void HalfConversionMatchesCast()
    {
        var rng = new Random(7);
        var values = Enumerable.Range(0, 517).Select(_ => (float)(rng.NextDouble() * 1000 - 500)).ToArray();
        var halves = new Half[values.Length];
        FloatConversion.SingleToHalf(values, halves);
        var back = new float[values.Length];
        FloatConversion.HalfToSingle(halves, back);
        for (int i = 0; i < values.Length; i++)
            Assert.That(back[i], Is.EqualTo((float)(Half)values[i]));
    }
}
