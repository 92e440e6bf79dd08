using NUnit.Framework;
using Rose.Pruning;

namespace Rose.Tests.Pruning;

[TestFixture]
public class ZeroCountTests
{
    [TestCase(0)]
    [TestCase(7)]
    [TestCase(1000)]
    [TestCase(2 * (1 << 20) + 13)]
    public void CountsPositiveAndNegativeZerosOnly(int n)
    {
        var rng = new Random(n);
        var values = new float[n];
        long expected = 0;
        for (int i = 0; i < n; i++)
        {
            values[i] = rng.Next(4) switch { 0 => 0f, 1 => -0f, 2 => float.NaN, _ => (float)rng.NextDouble() + 1e-30f };
            if (values[i] == 0f) expected++;
        }
        Assert.That(ZeroCount.Of(values), Is.EqualTo(expected));
    }
}
