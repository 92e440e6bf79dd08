using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rose.SafeTensors;

namespace Rose.Modeling;

/// <summary>The fp32 CPU primitives of the forward pass. Span-based; parallel where the work is large.</summary>
public static class CpuMath
{
    private const int RowTile = 32;
    private const int TokenTile = 64;

    /// <summary>y[t, o] = Σ_i x[t, i]·w[o, i] (+ bias[o]); x is tokens × inF, w is outF × inF.
    /// Tiles of tokens × rows run in parallel; inside a tile a 2×4 register block of Vector256
    /// accumulators reuses each loaded x and w vector several times (where AVX-512 runs, 8 tokens × 4 outputs
    /// at once, two tokens per 512-bit register: every lane does what it did in the 256-bit block).</summary>
    /// <param name="lowerOnly">Only y[t, o] with o ≤ t is needed (causal attention scores): tiles wholly above the
    /// diagonal are skipped and their y left as it was; every other element is computed as without it.</param>
    /// <param name="causalDepth">x[t, i] is +0 or −0 for every i &gt; t and w is finite (causal attention's P·V): the
    /// register blocks stop each sum after the last vector holding a nonzero term. The bits do not change: the
    /// skipped products are zeros, and a sum that starts at +0 is never −0, so adding a zero leaves it as it is.</param>
    public static void MatMulTransposed(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y,
        int tokens, int inF, int outF, ReadOnlySpan<float> bias = default, bool parallel = true, bool lowerOnly = false,
        bool causalDepth = false) =>
        MatMulTransposed(x, w, y, tokens, inF, outF, bias, parallel, lowerOnly, causalDepth, WideBlocksPay(inF, outF));

    /// <summary>Where the 512-bit blocks are faster: pairing the tokens copies x once per call, and a short depth
    /// or few outputs do not repay it (the sample's 64- and 172-wide projections and 8-wide heads ran slower).</summary>
    private static bool WideBlocksPay(int inF, int outF) => Vector512.IsHardwareAccelerated && inF >= 256 && outF >= 64;

    /// <param name="wide">Run 8 tokens at a time in 512-bit registers (same bits; false: the 256-bit blocks alone,
    /// the benchmark's baseline).</param>
    internal static unsafe void MatMulTransposed(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y,
        int tokens, int inF, int outF, ReadOnlySpan<float> bias, bool parallel, bool lowerOnly, bool causalDepth, bool wide)
    {
        if (x.Length < (long)tokens * inF || w.Length < (long)outF * inF || y.Length < (long)tokens * outF)
            throw new ArgumentException("MatMulTransposed: buffer too small");
        long work = (long)tokens * inF * outF;
        bool inParallel = parallel && work >= 1 << 18;
        int groups = wide && inF >= 8 ? tokens / 8 : 0;
        var paired = groups > 0 ? ArrayPool<float>.Shared.Rent(groups * 8 * (inF / 8 * 8)) : [];
        try
        {
            fixed (float* px = x, pw = w, py = y, pb = bias, pp = paired)
            {
                nint ax = (nint)px, aw = (nint)pw, ay = (nint)py, ab = (nint)pb, ap = (nint)pp;
                bool hasBias = !bias.IsEmpty;
                int rowTiles = (outF + RowTile - 1) / RowTile;
                int tokTiles = (tokens + TokenTile - 1) / TokenTile;
                if (groups > 0)
                {
                    if (inParallel) Parallel.For(0, groups, g => PairTokens((float*)ax, inF, g, (float*)ap));
                    else for (int g = 0; g < groups; g++) PairTokens(px, inF, g, pp);
                }
                void Tile(int tileIndex)
                {
                    int rt = tileIndex % rowTiles, tt = tileIndex / rowTiles;
                    int o0 = rt * RowTile, o1 = Math.Min(outF, o0 + RowTile);
                    int t0 = tt * TokenTile, t1 = Math.Min(tokens, t0 + TokenTile);
                    if (lowerOnly && o0 >= t1) return;
                    float* xs = (float*)ax, ws = (float*)aw, ys = (float*)ay, bs = (float*)ab;
                    int t = t0;
                    // Tiles start at multiples of 64 tokens, so an 8-token group never straddles two.
                    if (groups > 0)
                        t = WideGroups((float*)ap, xs, ws, ys, t0, t1, o0, o1, Math.Min(t1, groups * 8), inF, outF, causalDepth);
                    // Two token pairs at once share every loaded w vector; each element's arithmetic is
                    // that of Block2x4 either way.
                    for (; t + 4 <= t1; t += 4)
                    {
                        int o = o0;
                        int depth = causalDepth ? VectorDepth(t + 3, inF) : inF;
                        for (; o + 4 <= o1; o += 4) Block4x4(xs, ws, ys, t, o, inF, depth, outF);
                        for (; o < o1; o++)
                            for (int tt2 = t; tt2 < t + 4; tt2++)
                                ys[(long)tt2 * outF + o] = Dot(xs + (long)tt2 * inF, ws + (long)o * inF, inF);
                    }
                    for (; t + 2 <= t1; t += 2)
                    {
                        int o = o0;
                        int depth = causalDepth ? VectorDepth(t + 1, inF) : inF;
                        for (; o + 4 <= o1; o += 4) Block2x4(xs, ws, ys, t, o, inF, depth, outF);
                        for (; o < o1; o++)
                            for (int tt2 = t; tt2 < t + 2; tt2++)
                                ys[(long)tt2 * outF + o] = Dot(xs + (long)tt2 * inF, ws + (long)o * inF, inF);
                    }
                    for (; t < t1; t++)
                        for (int o = o0; o < o1; o++)
                            ys[(long)t * outF + o] = Dot(xs + (long)t * inF, ws + (long)o * inF, inF);
                    if (hasBias)
                        for (int tb = t0; tb < t1; tb++)
                            for (int o = o0; o < o1; o++) ys[(long)tb * outF + o] += bs[o];
                }
                int count = rowTiles * tokTiles;
                if (!inParallel) { for (int i = 0; i < count; i++) Tile(i); }
                else Parallel.For(0, count, Tile);
            }
        }
        finally
        {
            if (groups > 0) ArrayPool<float>.Shared.Return(paired);
        }
    }

    /// <summary>Tokens 8g..8g+7 of x, whole 8-column chunks only, as the wide block loads them: per chunk, for
    /// each token pair (2p, 2p+1), the pair's two 8-value runs side by side (one 512-bit register).</summary>
    private static unsafe void PairTokens(float* x, int inF, int g, float* paired)
    {
        int chunks = inF / 8;
        float* dst = paired + (long)g * 8 * chunks * 8;
        float* src = x + (long)g * 8 * inF;
        for (int c = 0; c < chunks; c++)
            for (int token = 0; token < 8; token++)
                Vector256.Store(Vector256.Load(src + (long)token * inF + c * 8), dst + (c * 8 + token) * 8);
    }

    /// <summary>Depth of the wide blocks' passes: a tile's 32 rows of w (32 KB) and one group's tokens (8 KB) over
    /// it stay in L1 while the blocks reuse them. Over the whole depth a block streamed 192 KB of a 7B
    /// projection's operands from L2 and was slower than the 256-bit blocks; passes of 128 gained less (the
    /// accumulators' trips to memory), 512 no more on two cores.</summary>
    private const int WideDepth = 256;

    /// <summary>The whole 8-token groups of tokens [t0, tEnd) × outputs [o0, o1) of a tile, 4 outputs at a time:
    /// the depth in passes of <see cref="WideDepth"/>, each block's 16 accumulators kept in memory between passes
    /// (stored and reloaded exactly), then reduced and finished as <see cref="Block2x4"/> does. Returns the first
    /// token left to the narrower blocks.</summary>
    private static unsafe int WideGroups(float* paired, float* xs, float* ws, float* ys, int t0, int t1, int o0, int o1,
        int tEnd, int inF, int outF, bool causalDepth)
    {
        int groupCount = Math.Max(0, (tEnd - t0) / 8), blocks = (o1 - o0) / 4, chunks = inF / 8;
        if (groupCount == 0) return t0;
        int accumulators = groupCount * blocks * 256;
        var scratch = ArrayPool<float>.Shared.Rent(accumulators);
        try
        {
            fixed (float* acc = scratch)
            {
                new Span<float>(acc, accumulators).Clear();
                int fullDepth = causalDepth ? VectorDepth(t0 + groupCount * 8 - 1, inF) : inF;
                for (int i0 = 0; i0 + 8 <= fullDepth; i0 += WideDepth)
                    for (int g = 0; g < groupCount; g++)
                    {
                        int t = t0 + 8 * g;
                        int vectors = (causalDepth ? VectorDepth(t + 7, inF) : inF) / 8 * 8;
                        if (i0 >= vectors) continue;
                        int i1 = Math.Min(vectors, i0 + WideDepth);
                        float* group = paired + (long)t * chunks * 8 + (long)i0 * 8;
                        for (int b = 0; b < blocks; b++)
                            Block8x4(group, ws + (long)(o0 + 4 * b) * inF + i0, inF, (i1 - i0) / 8, acc + (g * blocks + b) * 256);
                    }
                for (int g = 0; g < groupCount; g++)
                {
                    int t = t0 + 8 * g;
                    int depth = causalDepth ? VectorDepth(t + 7, inF) : inF;
                    for (int b = 0; b < blocks; b++)
                    {
                        int o = o0 + 4 * b;
                        float* a = acc + (g * blocks + b) * 256;
                        float* w0 = ws + (long)o * inF;
                        for (int pair = 0; pair < 4; pair++)
                            FinishPair(xs + (long)(t + 2 * pair) * inF, inF, w0, w0 + inF, w0 + 2L * inF, w0 + 3L * inF,
                                depth / 8 * 8, depth, ys + (long)(t + 2 * pair) * outF + o, outF,
                                Vector512.Load(a + pair * 64), Vector512.Load(a + pair * 64 + 16),
                                Vector512.Load(a + pair * 64 + 32), Vector512.Load(a + pair * 64 + 48));
                    }
                    for (int o = o0 + 4 * blocks; o < o1; o++)
                        for (int tt = t; tt < t + 8; tt++)
                            ys[(long)tt * outF + o] = Dot(xs + (long)tt * inF, ws + (long)o * inF, inF);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
        return t0 + groupCount * 8;
    }

    /// <summary>Block4x4 for 8 tokens over <paramref name="steps"/> 8-column chunks, each pair of tokens in one
    /// 512-bit register (from <see cref="PairTokens"/>) against w's 8-value run in both halves: each half does exactly
    /// the operations of Block2x4's 256-bit accumulator for its token. The 16 accumulators (pair-major, output-minor)
    /// are loaded from and stored back to <paramref name="acc"/>.</summary>
    private static unsafe void Block8x4(float* group, float* w0, int inF, int steps, float* acc)
    {
        float* w1 = w0 + inF, w2 = w1 + inF, w3 = w2 + inF;
        Vector512<float> a00 = Vector512.Load(acc), a01 = Vector512.Load(acc + 16), a02 = Vector512.Load(acc + 32), a03 = Vector512.Load(acc + 48);
        Vector512<float> a10 = Vector512.Load(acc + 64), a11 = Vector512.Load(acc + 80), a12 = Vector512.Load(acc + 96), a13 = Vector512.Load(acc + 112);
        Vector512<float> a20 = Vector512.Load(acc + 128), a21 = Vector512.Load(acc + 144), a22 = Vector512.Load(acc + 160), a23 = Vector512.Load(acc + 176);
        Vector512<float> a30 = Vector512.Load(acc + 192), a31 = Vector512.Load(acc + 208), a32 = Vector512.Load(acc + 224), a33 = Vector512.Load(acc + 240);
        float* p = group;
        for (int s = 0, i = 0; s < steps; s++, i += 8, p += 64)
        {
            var u0 = Twice(w0 + i);
            var u1 = Twice(w1 + i);
            var u2 = Twice(w2 + i);
            var u3 = Twice(w3 + i);
            var v = Vector512.Load(p);
            a00 = Vector512.FusedMultiplyAdd(v, u0, a00); a01 = Vector512.FusedMultiplyAdd(v, u1, a01);
            a02 = Vector512.FusedMultiplyAdd(v, u2, a02); a03 = Vector512.FusedMultiplyAdd(v, u3, a03);
            v = Vector512.Load(p + 16);
            a10 = Vector512.FusedMultiplyAdd(v, u0, a10); a11 = Vector512.FusedMultiplyAdd(v, u1, a11);
            a12 = Vector512.FusedMultiplyAdd(v, u2, a12); a13 = Vector512.FusedMultiplyAdd(v, u3, a13);
            v = Vector512.Load(p + 32);
            a20 = Vector512.FusedMultiplyAdd(v, u0, a20); a21 = Vector512.FusedMultiplyAdd(v, u1, a21);
            a22 = Vector512.FusedMultiplyAdd(v, u2, a22); a23 = Vector512.FusedMultiplyAdd(v, u3, a23);
            v = Vector512.Load(p + 48);
            a30 = Vector512.FusedMultiplyAdd(v, u0, a30); a31 = Vector512.FusedMultiplyAdd(v, u1, a31);
            a32 = Vector512.FusedMultiplyAdd(v, u2, a32); a33 = Vector512.FusedMultiplyAdd(v, u3, a33);
        }
        a00.Store(acc); a01.Store(acc + 16); a02.Store(acc + 32); a03.Store(acc + 48);
        a10.Store(acc + 64); a11.Store(acc + 80); a12.Store(acc + 96); a13.Store(acc + 112);
        a20.Store(acc + 128); a21.Store(acc + 144); a22.Store(acc + 160); a23.Store(acc + 176);
        a30.Store(acc + 192); a31.Store(acc + 208); a32.Store(acc + 224); a33.Store(acc + 240);
    }

    /// <summary>The 8 floats at <paramref name="p"/> in both halves, as one load (vbroadcastf64x4 moves the same
    /// 32 bytes); Vector512.Create of a Vector256 is two inserts on the shuffle port, which AVX-512's second FMA
    /// unit shares.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<float> Twice(float* p) =>
        Avx512F.IsSupported ? Avx512F.BroadcastVector256ToVector512((double*)p).AsSingle() : Vector512.Create(Vector256.Load(p));

    private static unsafe void FinishPair(float* x0, int inF, float* w0, float* w1, float* w2, float* w3, int i, int end,
        float* y0, int outF, Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3) =>
        Finish2x4(x0, x0 + inF, w0, w1, w2, w3, i, end, y0, outF,
            a0.GetLower(), a1.GetLower(), a2.GetLower(), a3.GetLower(), a0.GetUpper(), a1.GetUpper(), a2.GetUpper(), a3.GetUpper());

    /// <summary>How deep a register block must sum when no term past column <paramref name="last"/> is nonzero:
    /// through the 8-wide vector holding it. The scalar tail past the last whole vector stays, so every lane and
    /// tail term that can be nonzero is added in its usual place and order.</summary>
    private static int VectorDepth(int last, int inF)
    {
        int vectors = inF / 8 * 8;
        int needed = (last / 8 + 1) * 8;
        return needed >= vectors ? inF : needed;
    }

    private static unsafe float Dot(float* a, float* b, int n) =>
        TensorPrimitives.Dot(new ReadOnlySpan<float>(a, n), new ReadOnlySpan<float>(b, n));

    /// <summary>Block2x4 of tokens (t, t+1) and of (t+2, t+3) in one pass over w: every accumulator sees
    /// the same operations in the same order, so the results are Block2x4's to the bit.</summary>
    private static unsafe void Block4x4(float* xs, float* ws, float* ys, int t, int o, int inF, int depth, int outF)
    {
        float* x0 = xs + (long)t * inF, x1 = x0 + inF, x2 = x1 + inF, x3 = x2 + inF;
        float* w0 = ws + (long)o * inF, w1 = w0 + inF, w2 = w1 + inF, w3 = w2 + inF;
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector256<float> a30 = default, a31 = default, a32 = default, a33 = default;
        int i = 0;
        for (; i + 8 <= depth; i += 8)
        {
            var u0 = Vector256.Load(w0 + i);
            var u1 = Vector256.Load(w1 + i);
            var u2 = Vector256.Load(w2 + i);
            var u3 = Vector256.Load(w3 + i);
            var v = Vector256.Load(x0 + i);
            a00 = Vector256.FusedMultiplyAdd(v, u0, a00); a01 = Vector256.FusedMultiplyAdd(v, u1, a01);
            a02 = Vector256.FusedMultiplyAdd(v, u2, a02); a03 = Vector256.FusedMultiplyAdd(v, u3, a03);
            v = Vector256.Load(x1 + i);
            a10 = Vector256.FusedMultiplyAdd(v, u0, a10); a11 = Vector256.FusedMultiplyAdd(v, u1, a11);
            a12 = Vector256.FusedMultiplyAdd(v, u2, a12); a13 = Vector256.FusedMultiplyAdd(v, u3, a13);
            v = Vector256.Load(x2 + i);
            a20 = Vector256.FusedMultiplyAdd(v, u0, a20); a21 = Vector256.FusedMultiplyAdd(v, u1, a21);
            a22 = Vector256.FusedMultiplyAdd(v, u2, a22); a23 = Vector256.FusedMultiplyAdd(v, u3, a23);
            v = Vector256.Load(x3 + i);
            a30 = Vector256.FusedMultiplyAdd(v, u0, a30); a31 = Vector256.FusedMultiplyAdd(v, u1, a31);
            a32 = Vector256.FusedMultiplyAdd(v, u2, a32); a33 = Vector256.FusedMultiplyAdd(v, u3, a33);
        }
        Finish2x4(x0, x1, w0, w1, w2, w3, i, depth, ys + (long)t * outF + o, outF, a00, a01, a02, a03, a10, a11, a12, a13);
        Finish2x4(x2, x3, w0, w1, w2, w3, i, depth, ys + (long)(t + 2) * outF + o, outF, a20, a21, a22, a23, a30, a31, a32, a33);
    }

    /// <summary>y[t..t+1, o..o+3]: 8 dot products over inF, lanes of 8 fused then summed, a scalar tail.
    /// Internal so the benchmark can run it alone as the baseline of <see cref="Block4x4"/>.</summary>
    internal static unsafe void Block2x4(float* xs, float* ws, float* ys, int t, int o, int inF, int depth, int outF)
    {
        float* x0 = xs + (long)t * inF, x1 = x0 + inF;
        float* w0 = ws + (long)o * inF, w1 = w0 + inF, w2 = w1 + inF, w3 = w2 + inF;
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        int i = 0;
        for (; i + 8 <= depth; i += 8)
        {
            var v0 = Vector256.Load(x0 + i);
            var v1 = Vector256.Load(x1 + i);
            var u0 = Vector256.Load(w0 + i);
            var u1 = Vector256.Load(w1 + i);
            var u2 = Vector256.Load(w2 + i);
            var u3 = Vector256.Load(w3 + i);
            a00 = Vector256.FusedMultiplyAdd(v0, u0, a00); a01 = Vector256.FusedMultiplyAdd(v0, u1, a01);
            a02 = Vector256.FusedMultiplyAdd(v0, u2, a02); a03 = Vector256.FusedMultiplyAdd(v0, u3, a03);
            a10 = Vector256.FusedMultiplyAdd(v1, u0, a10); a11 = Vector256.FusedMultiplyAdd(v1, u1, a11);
            a12 = Vector256.FusedMultiplyAdd(v1, u2, a12); a13 = Vector256.FusedMultiplyAdd(v1, u3, a13);
        }
        Finish2x4(x0, x1, w0, w1, w2, w3, i, depth, ys + (long)t * outF + o, outF, a00, a01, a02, a03, a10, a11, a12, a13);
    }

    /// <summary>Reduces a 2×4 block's lane sums, adds the scalar tail of columns <paramref name="i"/> to
    /// <paramref name="end"/>, stores.</summary>
    private static unsafe void Finish2x4(float* x0, float* x1, float* w0, float* w1, float* w2, float* w3, int i, int end,
        float* y0, int outF, Vector256<float> a00, Vector256<float> a01, Vector256<float> a02, Vector256<float> a03,
        Vector256<float> a10, Vector256<float> a11, Vector256<float> a12, Vector256<float> a13)
    {
        float s00 = Vector256.Sum(a00), s01 = Vector256.Sum(a01), s02 = Vector256.Sum(a02), s03 = Vector256.Sum(a03);
        float s10 = Vector256.Sum(a10), s11 = Vector256.Sum(a11), s12 = Vector256.Sum(a12), s13 = Vector256.Sum(a13);
        for (; i < end; i++)
        {
            float v0 = x0[i], v1 = x1[i];
            s00 += v0 * w0[i]; s01 += v0 * w1[i]; s02 += v0 * w2[i]; s03 += v0 * w3[i];
            s10 += v1 * w0[i]; s11 += v1 * w1[i]; s12 += v1 * w2[i]; s13 += v1 * w3[i];
        }
        float* y1 = y0 + outF;
        y0[0] = s00; y0[1] = s01; y0[2] = s02; y0[3] = s03;
        y1[0] = s10; y1[1] = s11; y1[2] = s12; y1[3] = s13;
    }

    /// <summary>HF LlamaRMSNorm: y = w ⊙ x / sqrt(mean(x²) + eps), per token; with a 16-bit
    /// <paramref name="rounding"/>, y = round(w ⊙ round(x / sqrt(mean(x²) + eps))) as HF computes it in that dtype.</summary>
    public static unsafe void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int tokens, int dim, float eps,
        DType rounding = DType.F32, bool parallel = false)
    {
        if (x.Length < (long)tokens * dim || y.Length < (long)tokens * dim)
            throw new ArgumentException($"x and y must hold {tokens}×{dim} values");
        const int tokensPerTask = 16;
        if (!parallel || tokens < 2 * tokensPerTask)
        {
            RmsNormRows(x, weight, y, 0, tokens, dim, eps, rounding);
            return;
        }
        fixed (float* xp = x)
        fixed (float* wp = weight)
        fixed (float* yp = y)
        {
            float* xq = xp, wq = wp, yq = yp;
            int xl = x.Length, wl = weight.Length, yl = y.Length;
            Parallel.For(0, (tokens + tokensPerTask - 1) / tokensPerTask, c =>
                RmsNormRows(new ReadOnlySpan<float>(xq, xl), new ReadOnlySpan<float>(wq, wl), new Span<float>(yq, yl),
                    c * tokensPerTask, Math.Min(tokens, (c + 1) * tokensPerTask), dim, eps, rounding));
        }
    }

    private static void RmsNormRows(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int t0, int t1, int dim,
        float eps, DType rounding)
    {
        for (int t = t0; t < t1; t++)
        {
            var row = x.Slice(t * dim, dim);
            var outRow = y.Slice(t * dim, dim);
            float meanSquare = TensorPrimitives.SumOfSquares(row) / dim;
            float inv = 1f / MathF.Sqrt(meanSquare + eps);
            TensorPrimitives.Multiply(row, inv, outRow);
            // HF casts the normalized row back to the model dtype before the weight multiplies it.
            FloatRounding.RoundInPlace(rounding, outRow);
            TensorPrimitives.Multiply(outRow, weight, outRow);
            FloatRounding.RoundInPlace(rounding, outRow);
        }
    }

    /// <summary>SwiGLU: gate ← silu(gate) ⊙ up, silu(g) = g / (1 + e^−g); with a 16-bit
    /// <paramref name="rounding"/> as HF computes it in that dtype:
    /// gate ← round(round(silu(round(gate))) · round(up)). <paramref name="parallel"/> spreads the
    /// elements over the cores (elementwise: the same values).</summary>
    public static unsafe void SiluMultiply(Span<float> gate, ReadOnlySpan<float> up, DType rounding = DType.F32, bool parallel = false)
    {
        if (up.Length != gate.Length) throw new ArgumentException($"up has {up.Length} values, gate {gate.Length}", nameof(up));
        const int chunk = 1 << 14;
        if (!parallel || gate.Length < 2 * chunk)
        {
            SiluMultiplySerial(gate, up, rounding);
            return;
        }
        int n = gate.Length;
        fixed (float* g = gate)
        fixed (float* u = up)
        {
            float* gp = g, upp = u;
            Parallel.For(0, (n + chunk - 1) / chunk, c =>
            {
                int start = c * chunk, count = Math.Min(chunk, n - start);
                SiluMultiplySerial(new Span<float>(gp + start, count), new ReadOnlySpan<float>(upp + start, count), rounding);
            });
        }
    }

    private static void SiluMultiplySerial(Span<float> gate, ReadOnlySpan<float> up, DType rounding)
    {
        if (rounding == DType.F32)
        {
            for (int i = 0; i < gate.Length; i++)
            {
                float g = gate[i];
                gate[i] = g / (1f + MathF.Exp(-g)) * up[i];
            }
            return;
        }
        int j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            // Only e^−g stays scalar (MathF.Exp's values); every rounding runs eight lanes at a time.
            Span<float> lanes = stackalloc float[Vector256<float>.Count];
            for (; j <= gate.Length - lanes.Length; j += lanes.Length)
            {
                FloatRounding.Round(rounding, Vector256.Create<float>(gate[j..])).CopyTo(lanes);
                for (int l = 0; l < lanes.Length; l++)
                {
                    float g = lanes[l];
                    lanes[l] = g / (1f + MathF.Exp(-g));
                }
                var a = FloatRounding.Round(rounding, Vector256.Create<float>(lanes));
                var u = FloatRounding.Round(rounding, Vector256.Create<float>(up[j..]));
                FloatRounding.Round(rounding, a * u).CopyTo(gate[j..]);
            }
        }
        for (; j < gate.Length; j++)
        {
            float g = FloatRounding.Round(rounding, gate[j]);
            float a = FloatRounding.Round(rounding, g / (1f + MathF.Exp(-g)));
            gate[j] = FloatRounding.Round(rounding, a * FloatRounding.Round(rounding, up[j]));
        }
    }
}
