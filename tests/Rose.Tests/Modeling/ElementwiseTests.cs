using NUnit.Framework;
using Rose.Modeling;
using Rose.SafeTensors;

namespace Rose.Tests.Modeling;

/// <summary>The forward's elementwise steps (RoPE, SwiGLU, RMSNorm) against plain scalar loops of the same
/// formulas, bit for bit: vector bodies, tails shorter than a vector, and the parallel split over the cores.</summary>
[TestFixture]
public class ElementwiseTests
{
    private static float[] Random(int n, double scale, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray();
    }

    private static void AssertSameBits(float[] expected, float[] actual, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToUInt32Bits(expected[i]) != BitConverter.SingleToUInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R}");
    }

    [TestCase(DType.F32, 6, false)]
    [TestCase(DType.F16, 6, false)]
    [TestCase(DType.BF16, 20, false)]
    [TestCase(DType.F16, 20, true)]
    [TestCase(DType.F16, 128, true)]
    [TestCase(DType.BF16, 128, false)]
    [TestCase(DType.F32, 128, true)]
    public void RopeIsTheScalarFormula(DType dtype, int headDim, bool parallel)
    {
        const int tokens = 70, heads = 3;
        int half = headDim / 2;
        var invFreq = Enumerable.Range(0, half).Select(i => (float)Math.Pow(10000, -2.0 * i / headDim)).ToArray();
        var x = Random(tokens * heads * headDim, 3, 1);
        FloatRounding.RoundInPlace(dtype, x);
        var expected = (float[])x.Clone();
        for (int t = 0; t < tokens; t++)
            for (int i = 0; i < half; i++)
            {
                float angle = t * invFreq[i];
                float c = FloatRounding.Round(dtype, MathF.Cos(angle)), s = FloatRounding.Round(dtype, MathF.Sin(angle));
                for (int h = 0; h < heads; h++)
                {
                    int at = (t * heads + h) * headDim + i;
                    float a = expected[at], b = expected[at + half];
                    if (dtype == DType.F32)
                    {
                        expected[at] = a * c - b * s;
                        expected[at + half] = b * c + a * s;
                        continue;
                    }
                    expected[at] = FloatRounding.Round(dtype, FloatRounding.Round(dtype, a * c) + FloatRounding.Round(dtype, -b * s));
                    expected[at + half] = FloatRounding.Round(dtype, FloatRounding.Round(dtype, b * c) + FloatRounding.Round(dtype, a * s));
                }
            }
        new RotaryEmbedding(invFreq).Apply(x, tokens, heads, dtype, parallel);
        AssertSameBits(expected, x, $"RoPE {dtype} head_dim {headDim}");
    }

    [Test]
    public void RopeRefusesAProjectionOfAnotherSize() =>
        Assert.Throws<ArgumentException>(() => new RotaryEmbedding([1f, 0.1f]).Apply(new float[4 * 2 * 4 + 1], 4, 2, DType.F16));

    [TestCase(DType.F32, 1003, false)]
    [TestCase(DType.F16, 1003, false)]
    [TestCase(DType.BF16, 7, false)]
    [TestCase(DType.F16, 70_001, true)]
    [TestCase(DType.BF16, 70_001, true)]
    [TestCase(DType.F32, 70_001, true)]
    public void SwiGluIsTheScalarFormula(DType dtype, int n, bool parallel)
    {
        var gate = Random(n, 12, 2);
        var up = Random(n, 2, 3);
        gate[0] = 0f;
        gate[Math.Min(5, n - 1)] = -90f; // e^90 overflows: silu → −0
        var expected = (float[])gate.Clone();
        for (int i = 0; i < n; i++)
        {
            if (dtype == DType.F32)
            {
                float x = expected[i];
                expected[i] = x / (1f + MathF.Exp(-x)) * up[i];
                continue;
            }
            float g = FloatRounding.Round(dtype, expected[i]);
            float act = FloatRounding.Round(dtype, g / (1f + MathF.Exp(-g)));
            expected[i] = FloatRounding.Round(dtype, act * FloatRounding.Round(dtype, up[i]));
        }
        CpuMath.SiluMultiply(gate, up, dtype, parallel);
        AssertSameBits(expected, gate, $"SwiGLU {dtype} n {n}");
    }

    [TestCase(DType.F32)]
    [TestCase(DType.F16)]
    public void RmsNormSplitOverTheCoresGivesTheSameValues(DType dtype)
    {
        const int tokens = 100, dim = 72;
        var x = Random(tokens * dim, 5, 4);
        var w = Random(dim, 1, 5);
        var serial = new float[x.Length];
        var parallel = new float[x.Length];
        CpuMath.RmsNorm(x, w, serial, tokens, dim, 1e-5f, dtype);
        CpuMath.RmsNorm(x, w, parallel, tokens, dim, 1e-5f, dtype, parallel: true);
        AssertSameBits(serial, parallel, $"RMSNorm {dtype}");
    }
}
