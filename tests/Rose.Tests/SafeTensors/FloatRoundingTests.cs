using System.Runtime.Intrinsics;
using NUnit.Framework;
using Rose.SafeTensors;

namespace Rose.Tests.SafeTensors;

[TestFixture]
public class FloatRoundingTests
{
    /// <summary>Every float16 value, its float32 neighbours, the midpoints between consecutive float16 values
    /// (ties) and theirs, and a sweep of the whole float32 range: the rounding boundaries of every
    /// binade, the subnormals, the overflow to infinity.</summary>
    private static IEnumerable<float> HalfBoundaryCases()
    {
        for (uint h = 0; h < 0x7C00; h++)
        {
            foreach (uint sign in new[] { 0u, 0x8000u })
            {
                float here = (float)BitConverter.UInt16BitsToHalf((ushort)(h | sign));
                float next = (float)BitConverter.UInt16BitsToHalf((ushort)((h + 1) | sign));
                float tie = (float)(((double)here + next) / 2); // exact: float16 has 11 significant bits
                foreach (float x in new[] { here, tie })
                {
                    yield return x;
                    yield return MathF.BitIncrement(x);
                    yield return MathF.BitDecrement(x);
                }
            }
        }
        for (ulong bits = 0; bits <= uint.MaxValue; bits += 65_521)
            yield return BitConverter.UInt32BitsToSingle((uint)bits);
        yield return float.PositiveInfinity;
        yield return float.NegativeInfinity;
        yield return float.MaxValue;
        yield return 65_520f;
        yield return MathF.BitDecrement(65_520f);
    }

    [Test]
    public void HalfRoundingIsTheCastThroughHalf()
    {
        var values = HalfBoundaryCases().ToArray();
        Assert.That(values, Has.Length.GreaterThan(300_000));
        var inPlace = (float[])values.Clone();
        FloatRounding.RoundInPlace(DType.F16, inPlace);
        int nan = 0;
        for (int i = 0; i < values.Length; i++)
        {
            float x = values[i];
            float expected = (float)(Half)x;
            if (float.IsNaN(x))
            {
                nan++;
                Assert.That(float.IsNaN(FloatRounding.Round(DType.F16, x)) && float.IsNaN(inPlace[i]), $"NaN {BitConverter.SingleToUInt32Bits(x):X8}");
                continue;
            }
            uint want = BitConverter.SingleToUInt32Bits(expected);
            Assert.That(BitConverter.SingleToUInt32Bits(FloatRounding.Round(DType.F16, x)), Is.EqualTo(want), $"scalar {BitConverter.SingleToUInt32Bits(x):X8}");
            Assert.That(BitConverter.SingleToUInt32Bits(inPlace[i]), Is.EqualTo(want), $"vector {BitConverter.SingleToUInt32Bits(x):X8}");
        }
        Assert.That(nan, Is.GreaterThan(0), "the sweep reaches NaN bit patterns");
    }

    [Test]
    public void BFloat16RoundingIsAStoreAndLoad()
    {
        var rng = new Random(5);
        var values = new float[100_003];
        for (int i = 0; i < values.Length; i++) values[i] = BitConverter.Int32BitsToSingle(rng.Next() ^ (rng.Next(2) << 31));
        var inPlace = (float[])values.Clone();
        FloatRounding.RoundInPlace(DType.BF16, inPlace);
        for (int i = 0; i < values.Length; i++)
        {
            uint want = BitConverter.SingleToUInt32Bits(FloatConversion.BFloat16ToSingle(FloatConversion.SingleToBFloat16(values[i])));
            Assert.That(BitConverter.SingleToUInt32Bits(FloatRounding.Round(DType.BF16, values[i])), Is.EqualTo(want));
            Assert.That(BitConverter.SingleToUInt32Bits(inPlace[i]), Is.EqualTo(want));
        }
    }

    [TestCase(DType.BF16)]
    [TestCase(DType.F16)]
    [TestCase(DType.F32)]
    public void VectorRoundingIsTheScalarOne(DType dtype)
    {
        var rng = new Random(9);
        var lanes = new float[Vector256<float>.Count];
        for (int trial = 0; trial < 10_000; trial++)
        {
            for (int i = 0; i < lanes.Length; i++) lanes[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-30, 20)));
            var rounded = FloatRounding.Round(dtype, Vector256.Create(lanes));
            for (int i = 0; i < lanes.Length; i++)
                Assert.That(rounded[i], Is.EqualTo(FloatRounding.Round(dtype, lanes[i])), $"{dtype} {lanes[i]:R}");
        }
    }

    /// <summary>In-place rounding equals a store to the dtype and a load back, for every length's vector
    /// body and tail, on ties, NaN, infinities, subnormals and values past the 16-bit range.</summary>
    [TestCase(DType.BF16)]
    [TestCase(DType.F16)]
    [TestCase(DType.F32)]
    public void RoundInPlaceEqualsAStoreAndLoad(DType dtype)
    {
        var rng = new Random(17);
        var specials = new[]
        {
            0f, -0f, 1f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e-40f, -3e-39f, 70000f, 1e30f,
            BitConverter.UInt32BitsToSingle(0x3F808000), BitConverter.UInt32BitsToSingle(0x3F818000), 1.00048828125f, 65520f,
        };
        foreach (int length in new[] { 0, 1, 7, 8, 15, 16, 33, 300 })
        {
            var values = new float[length];
            for (int i = 0; i < length; i++)
                values[i] = i < specials.Length ? specials[(i * 5 + length) % specials.Length] : (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-6, 6)));
            var bytes = new byte[length * dtype.ElementSize()];
            FloatConversion.FromSingle(dtype, values, bytes);
            var expected = new float[length];
            FloatConversion.ToSingle(dtype, bytes, expected);
            var actual = (float[])values.Clone();
            FloatRounding.RoundInPlace(dtype, actual);
            for (int i = 0; i < length; i++)
                Assert.That(BitConverter.SingleToUInt32Bits(actual[i]), Is.EqualTo(BitConverter.SingleToUInt32Bits(expected[i])),
                    $"{dtype} length {length} element {i}: {values[i]:R}");
        }
    }

    [Test]
    public void RoundInPlaceRefusesDTypesItCannotHold() =>
        Assert.Throws<ArgumentException>(() => FloatRounding.RoundInPlace(DType.I32, new float[4]));
}
