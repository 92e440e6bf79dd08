using NUnit.Framework;
using Rose.Models;

namespace Rose.Tests.Config;

[TestFixture]
public class RopeFrequencyTests
{
    // Reference values are computed here in float32, the way PyTorch evaluates HF's formulas
    // (exponent 2i/d in float, pow, then a torch.where-style selection over all three bands), so
    // they are an independent route to the same numbers; the two agree to float rounding.
    private static float[] ReferenceInvFreq(int dim, float theta) =>
        Enumerable.Range(0, dim / 2).Select(i => 1f / MathF.Pow(theta, (float)(2 * i) / dim)).ToArray();

    private static float[] ReferenceLlama3(int dim, float theta, float factor, float low, float high, float oldContext)
    {
        var inv = ReferenceInvFreq(dim, theta);
        float lowFreqWavelen = oldContext / low;
        float highFreqWavelen = oldContext / high;
        var result = new float[inv.Length];
        for (int i = 0; i < inv.Length; i++)
        {
            float wavelen = 2 * MathF.PI / inv[i];
            float scaledIfLong = wavelen > lowFreqWavelen ? inv[i] / factor : inv[i];
            float smooth = (oldContext / wavelen - low) / (high - low);
            float smoothed = (1 - smooth) * scaledIfLong / factor + smooth * scaledIfLong;
            bool medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
            result[i] = medium ? smoothed : scaledIfLong;
        }
        return result;
    }

    private static void AssertClose(float[] actual, float[] expected)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        for (int i = 0; i < expected.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]).Within(1e-4).Percent, $"inv_freq[{i}]");
    }

    [Test]
    public void NoScaling_IsThetaToTheMinusTwoIOverD()
    {
        var c = ModelConfig.Parse(ConfigFixtures.Llama2_7B, "x/config.json");
        var inv = c.InverseFrequencies();
        AssertClose(inv, ReferenceInvFreq(128, 10000f));
        Assert.Multiple(() =>
        {
            Assert.That(inv[0], Is.EqualTo(1f));
            Assert.That(inv[32], Is.EqualTo(0.01f).Within(1e-9f)); // 10000^(-64/128) = 1/100
        });
    }

    [Test]
    public void Linear_DividesEveryFrequencyByTheFactor()
    {
        var scaled = ModelConfig.InverseFrequencies(16, 10000.0, new RopeScaling("linear", 4.0));
        var plain = ReferenceInvFreq(16, 10000f);
        AssertClose(scaled, plain.Select(f => f / 4f).ToArray());
    }

    [Test]
    public void Llama31_MatchesIndependentFormula()
    {
        var c = ModelConfig.Parse(ConfigFixtures.Llama31_8B, "x/config.json");
        var inv = c.InverseFrequencies();
        AssertClose(inv, ReferenceLlama3(128, 500000f, 8f, 1f, 4f, 8192f));
    }

    [Test]
    public void Llama32_RopeParameters_MatchesIndependentFormula()
    {
        var c = ModelConfig.Parse(ConfigFixtures.Llama32_RopeParameters, "x/config.json");
        AssertClose(c.InverseFrequencies(), ReferenceLlama3(64, 500000f, 32f, 1f, 4f, 8192f));
    }

    [Test]
    public void Llama31_HasAllThreeBands()
    {
        // With theta 500000 and d = 128 the wavelengths span 2π … ~2.7e6, so the short ones
        // (< 8192/4) must be untouched, the long ones (> 8192) divided by exactly 8, and some in
        // between strictly between the two.
        var c = ModelConfig.Parse(ConfigFixtures.Llama31_8B, "x/config.json");
        var scaled = c.InverseFrequencies();
        var plain = ModelConfig.InverseFrequencies(128, 500000.0, null);
        int kept = 0, slowed = 0, blended = 0;
        for (int i = 0; i < plain.Length; i++)
        {
            double wavelen = 2 * Math.PI / plain[i];
            if (wavelen < 8192 / 4.0)
            {
                Assert.That(scaled[i], Is.EqualTo(plain[i]), $"high-frequency inv_freq[{i}]");
                kept++;
            }
            else if (wavelen > 8192)
            {
                Assert.That(scaled[i], Is.EqualTo(plain[i] / 8f).Within(1e-6).Percent, $"low-frequency inv_freq[{i}]");
                slowed++;
            }
            else
            {
                Assert.That(scaled[i], Is.LessThan(plain[i]).And.GreaterThan(plain[i] / 8f), $"medium inv_freq[{i}]");
                blended++;
            }
        }
        Assert.That(new[] { kept, slowed, blended }, Has.All.GreaterThan(0));
    }

    [Test]
    public void OddHeadDim_IsRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ModelConfig.InverseFrequencies(7, 10000.0, null));
    }
}
