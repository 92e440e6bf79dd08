using NUnit.Framework;
using Rose.Modeling;

namespace Rose.Tests.Modeling;

/// <summary>The forward's GEMM gives every element the same bits whichever register block computes it:
/// a call over many tokens (8-token blocks in 512-bit registers where AVX-512 runs, 4-token blocks) equals
/// calls over two tokens at a time (2-token blocks) and a lone token (a plain dot product for an odd last
/// token), edges of inF and outF included.</summary>
[TestFixture]
public class MatMulTests
{
    [TestCase(13, 37, 43)]
    [TestCase(8, 64, 32)]
    [TestCase(70, 19, 5)]
    [TestCase(150, 133, 37)]
    public void BlockShapeDoesNotChangeTheBits(int tokens, int inF, int outF)
    {
        var rng = new Random(tokens);
        var x = Enumerable.Range(0, tokens * inF).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var w = Enumerable.Range(0, outF * inF).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var bias = Enumerable.Range(0, outF).Select(_ => (float)rng.NextDouble()).ToArray();
        var whole = new float[tokens * outF];
        CpuMath.MatMulTransposed(x, w, whole, tokens, inF, outF, bias);
        var pieces = new float[tokens * outF];
        // Token tiles are 64 long, so pairs from 0 keep the pairing the whole call uses.
        for (int t = 0; t < tokens; t += 2)
        {
            int n = Math.Min(2, tokens - t);
            if (t % 64 == 63) n = 1;
            CpuMath.MatMulTransposed(x.AsSpan(t * inF, n * inF), w, pieces.AsSpan(t * outF, n * outF), n, inF, outF, bias);
            if (n == 1 && t + 1 < tokens)
                CpuMath.MatMulTransposed(x.AsSpan((t + 1) * inF, inF), w, pieces.AsSpan((t + 1) * outF, outF), 1, inF, outF, bias);
        }
        for (int i = 0; i < whole.Length; i++)
            Assert.That(BitConverter.SingleToUInt32Bits(whole[i]), Is.EqualTo(BitConverter.SingleToUInt32Bits(pieces[i])), $"y[{i / outF}, {i % outF}]");
    }
    /// <summary>With lowerOnly (causal scores) every y[t, o] with o ≤ t has the full call's bits, and whole tiles
    /// above the diagonal are left untouched: square and non-square, tokens past one 64-token tile.</summary>
    [TestCase(150, 8, 150)]
    [TestCase(97, 16, 130)]
    public void LowerOnlyComputesTheLowerTriangleExactly(int tokens, int inF, int outF)
    {
        var rng = new Random(outF);
        var x = Enumerable.Range(0, tokens * inF).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var w = Enumerable.Range(0, outF * inF).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var full = new float[tokens * outF];
        CpuMath.MatMulTransposed(x, w, full, tokens, inF, outF);
        var lower = Enumerable.Repeat(float.NaN, tokens * outF).ToArray();
        CpuMath.MatMulTransposed(x, w, lower, tokens, inF, outF, lowerOnly: true);
        int untouched = 0;
        for (int t = 0; t < tokens; t++)
            for (int o = 0; o < outF; o++)
            {
                float value = lower[t * outF + o];
                if (o <= t)
                    Assert.That(BitConverter.SingleToUInt32Bits(value), Is.EqualTo(BitConverter.SingleToUInt32Bits(full[t * outF + o])), $"y[{t}, {o}]");
                else if (float.IsNaN(value)) untouched++;
            }
        // Tiles are 64 tokens × 32 outputs: at least the upper-right tiles are skipped.
        Assert.That(untouched, Is.GreaterThan(tokens * outF / 8));
    }

    /// <summary>With causalDepth (P·V of causal attention: x[t, i] is zero past i = t) every element has the full
    /// call's bits: negative and positive terms, exact cancellations to zero, −0 among the skipped zeros, rows whose
    /// nonzero part ends inside a vector, at its end and in the scalar tail.</summary>
    [TestCase(150, 150, 24)]
    [TestCase(97, 101, 19)]
    [TestCase(9, 13, 4)]
    public void CausalDepthKeepsEveryBit(int tokens, int inF, int outF)
    {
        var rng = new Random(inF);
        var x = new float[tokens * inF];
        for (int t = 0; t < tokens; t++)
            for (int i = 0; i < inF; i++)
                x[t * inF + i] = i <= t ? (rng.Next(5) == 0 ? 0f : (float)rng.NextDouble() - 0.5f) : (rng.Next(2) == 0 ? 0f : -0f);
        var w = Enumerable.Range(0, outF * inF).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        // Row 9 cancels to exactly zero against w row 0 (w/2 and −w/2, exact, in the same lane, nothing else), so a wrong
        // sign of zero would show in y[9, 0].
        if (tokens > 9 && inF > 9)
        {
            Array.Clear(x, 9 * inF, inF);
            x[9 * inF] = 0.5f;
            x[9 * inF + 8] = -0.5f;
            w[8] = w[0];
        }
        var full = new float[tokens * outF];
        CpuMath.MatMulTransposed(x, w, full, tokens, inF, outF);
        var causal = new float[tokens * outF];
        CpuMath.MatMulTransposed(x, w, causal, tokens, inF, outF, causalDepth: true);
        for (int i = 0; i < full.Length; i++)
            Assert.That(BitConverter.SingleToUInt32Bits(causal[i]), Is.EqualTo(BitConverter.SingleToUInt32Bits(full[i])), $"y[{i / outF}, {i % outF}]");
        if (tokens > 9 && inF > 9) Assert.That(full[9 * outF], Is.EqualTo(0f), "the cancelling row");
    }

    /// <summary>The 8-token blocks in 512-bit registers (forced here, so they run on any CPU) give every element
    /// the bits of the 256-bit blocks alone: plain, lower-only (scores) and causal-depth (P·V) calls, with
    /// token counts that leave 4-, 2- and 1-token remainders and widths with a scalar tail.</summary>
    [TestCase(150, 133, 37, false, false)]
    [TestCase(71, 8, 9, false, false)]
    [TestCase(97, 16, 130, true, false)]
    [TestCase(150, 150, 24, false, true)]
    [TestCase(13, 13, 4, false, true)]
    public void WideBlocksKeepTheNarrowBlocksBits(int tokens, int inF, int outF, bool lowerOnly, bool causalDepth)
    {
        var rng = new Random(tokens + inF);
        var x = new float[tokens * inF];
        for (int t = 0; t < tokens; t++)
            for (int i = 0; i < inF; i++)
                x[t * inF + i] = !causalDepth || i <= t ? (float)rng.NextDouble() - 0.5f : (rng.Next(2) == 0 ? 0f : -0f);
        var w = Enumerable.Range(0, outF * inF).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var bias = lowerOnly || causalDepth ? [] : Enumerable.Range(0, outF).Select(_ => (float)rng.NextDouble()).ToArray();
        var wide = new float[tokens * outF];
        var narrow = new float[tokens * outF];
        CpuMath.MatMulTransposed(x, w, wide, tokens, inF, outF, bias, parallel: true, lowerOnly, causalDepth, wide: true);
        CpuMath.MatMulTransposed(x, w, narrow, tokens, inF, outF, bias, parallel: true, lowerOnly, causalDepth, wide: false);
        for (int i = 0; i < wide.Length; i++)
            Assert.That(BitConverter.SingleToUInt32Bits(wide[i]), Is.EqualTo(BitConverter.SingleToUInt32Bits(narrow[i])), $"y[{i / outF}, {i % outF}]");
    }
}
