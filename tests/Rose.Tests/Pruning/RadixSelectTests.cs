using NUnit.Framework;
using Rose.Pruning.Cpu;

namespace Rose.Tests.Pruning;

/// <summary>The parallel radix select gives the value a sort puts at rank k, on both sides of the size where it
/// hands over to the quickselect, with ties, signs, zeros of both signs, infinities and NaN.</summary>
[TestFixture]
public class RadixSelectTests
{
    private static float[] Values(int n, int seed)
    {
        var rng = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++)
        {
            v[i] = rng.Next(10) switch
            {
                0 => 0f,
                1 => -0f,
                2 => (float)rng.Next(-3, 4), // heavy ties
                3 => rng.Next(2) == 0 ? float.PositiveInfinity : float.NegativeInfinity,
                _ => (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-30, 30))),
            };
        }
        return v;
    }

    [TestCase(RadixSelect.ParallelFrom - 1)]
    [TestCase(RadixSelect.ParallelFrom)]
    [TestCase(3 * 65_536 + 17)]
    public void EveryRankIsTheSortedValue(int n)
    {
        var values = Values(n, n);
        var sorted = (float[])values.Clone();
        Array.Sort(sorted);
        foreach (long k in new long[] { 0, 1, n / 3, n / 2, (long)(0.7 * n), n - 2, n - 1 })
            Assert.That(RadixSelect.KthSmallest(values, k), Is.EqualTo(sorted[k]), $"k = {k}");
    }

    [Test]
    public void MetricsGiveTheQuickselectsBits()
    {
        // OBS metrics: w²/d², non-negative, many values close together.
        var rng = new Random(3);
        var m = new float[200_003];
        for (int i = 0; i < m.Length; i++)
        {
            float w = (float)(rng.NextDouble() - 0.5), d = (float)(rng.NextDouble() + 0.1);
            m[i] = w * w / (d * d);
        }
        foreach (long k in new long[] { 0, 140_002, 200_002 })
        {
            var scratch = (float[])m.Clone();
            float expected = Selection.KthSmallest(scratch, (int)k);
            Assert.That(BitConverter.SingleToUInt32Bits(RadixSelect.KthSmallest(m, k)), Is.EqualTo(BitConverter.SingleToUInt32Bits(expected)));
        }
    }

    [Test]
    public void NaNOrdersAfterInfinityAndZeroIsPositive()
    {
        var v = Enumerable.Repeat(-0f, RadixSelect.ParallelFrom + 10).ToArray();
        v[3] = float.NaN;
        v[7] = float.PositiveInfinity;
        Assert.That(float.IsNaN(RadixSelect.KthSmallest(v, v.Length - 1)));
        Assert.That(RadixSelect.KthSmallest(v, v.Length - 2), Is.EqualTo(float.PositiveInfinity));
        Assert.That(BitConverter.SingleToUInt32Bits(RadixSelect.KthSmallest(v, 0)), Is.EqualTo(0u), "+0");
        Assert.Throws<ArgumentOutOfRangeException>(() => RadixSelect.KthSmallest(v, v.Length));
    }
}
