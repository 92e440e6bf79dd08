using NUnit.Framework;
using static Rose.Tests.Cuda.CudaTestSupport;

namespace Rose.Tests.Cuda;

/// <summary>The grid-wide radix select against a sort, on inputs that stress each pass: ties
/// across whole digits, ±0, negative values, one crowded bin, ranks at both ends, more keys than one grid pass.</summary>
[TestFixture, Category("Gpu"), NonParallelizable]
public class GridSelectTests
{
    public static IEnumerable<TestCaseData> Inputs()
    {
        var rng = new Random(3);
        float[] Make(int n, Func<int, float> f) => Enumerable.Range(0, n).Select(f).ToArray();
        yield return new TestCaseData(Make(1, _ => 2.5f)).SetName("single value");
        yield return new TestCaseData(Make(1000, _ => 7f)).SetName("all equal");
        yield return new TestCaseData(Make(4099, i => i % 2 == 0 ? 0f : -0f)).SetName("signed zeros");
        yield return new TestCaseData(Make(10007, i => (float)(rng.NextDouble() - 0.5) * 1e3f)).SetName("mixed signs");
        yield return new TestCaseData(Make(70001, i => 1f + (i % 13) * 1e-7f)).SetName("one crowded exponent");
        yield return new TestCaseData(Make(300_000, i => MathF.Round((float)rng.NextDouble() * 64) / 8)).SetName("many ties");
        yield return new TestCaseData(Make(1_409_024, i => (float)Math.Pow(rng.NextDouble(), 4))).SetName("an OBS block of 11008 x 128");
        // More keys than one pass of the largest grid (multiprocessors x 8 blocks x 4096 keys: 4.3M on
        // an H200), so every thread strides over several keys; signed values with ties.
        yield return new TestCaseData(Make(6_000_000, i => MathF.Round((float)(rng.NextDouble() - 0.5) * 2e4f) / 16)).SetName("several grid strides");
    }

    [TestCaseSource(nameof(Inputs))]
    public void SelectsTheKthOfTheSortedValues(float[] values)
    {
        var gpu = Backend();
        var sorted = values.ToArray();
        Array.Sort(sorted);
        var ranks = new HashSet<long> { 0, values.Length - 1, values.Length / 2, (long)Math.Floor(0.7 * values.Length) };
        foreach (long k in ranks.Where(k => k >= 0 && k < values.Length))
        {
            float got = gpu.KthSmallest(values, k);
            // -0 and +0 are one key; compare as floats.
            Assert.That(got == sorted[k], Is.True, $"k = {k}: cuda {got:R}, sorted {sorted[k]:R}");
        }
    }
}
