using System.Buffers;
using System.Numerics.Tensors;

namespace Rose.Modeling;

/// <summary>Causal grouped-query attention, fp32, as HF's eager path computes it:
/// out[t, h] = Σ_{s≤t} softmax_s(q[t,h]·k[s,g]/√d) · v[s,g], with g = h / (heads / kvHeads);
/// with a sliding window W only t − W < s ≤ t take part (HF's sliding-window mask).
/// Per head, the scores are one tokens × tokens GEMM (Q·Kᵀ) and the output another (P·V), so the
/// vectorized matmul does the work even for small head dims; entries above the diagonal are
/// masked to zero probability before P·V.</summary>
public static class CausalAttention
{
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> output,
        int tokens, int heads, int kvHeads, int headDim, bool parallel = true, int? window = null)
    {
        if (window is <= 0) throw new ArgumentOutOfRangeException(nameof(window), window, "a sliding window must be positive");
        int span = window is int w ? Math.Min(w, tokens) : tokens;
        int qStride = heads * headDim, kvStride = kvHeads * headDim;
        var qa = q.ToArray();
        var ka = k.ToArray();
        var va = v.ToArray();
        var result = ArrayPool<float>.Shared.Rent(tokens * qStride);
        try
        {
            if (parallel) Parallel.For(0, heads, h => Head(qa, ka, va, result, h, tokens, heads, kvHeads, headDim, span, true));
            else for (int h = 0; h < heads; h++) Head(qa, ka, va, result, h, tokens, heads, kvHeads, headDim, span, false);
            result.AsSpan(0, tokens * qStride).CopyTo(output);
        }
        finally { ArrayPool<float>.Shared.Return(result); }
    }

    /// <param name="span">How many keys up to and including its own each query sees (tokens: all of them).</param>
    private static void Head(float[] q, float[] k, float[] v, float[] output, int h, int tokens, int heads, int kvHeads, int headDim,
        int span, bool parallel)
    {
        int g = h / (heads / kvHeads);
        int qStride = heads * headDim, kvStride = kvHeads * headDim;
        float scale = 1f / MathF.Sqrt(headDim);
        var pool = ArrayPool<float>.Shared;
        float[] qh = pool.Rent(tokens * headDim), kh = pool.Rent(tokens * headDim), vt = pool.Rent(headDim * tokens);
        float[] scores = pool.Rent(tokens * tokens), oh = pool.Rent(tokens * headDim);
        try
        {
            for (int t = 0; t < tokens; t++)
                for (int i = 0; i < headDim; i++)
                {
                    qh[t * headDim + i] = q[t * qStride + h * headDim + i];
                    kh[t * headDim + i] = k[t * kvStride + g * headDim + i];
                    vt[i * tokens + t] = v[t * kvStride + g * headDim + i];
                }
            // Scores above the diagonal are masked out below, so they need not be computed.
            CpuMath.MatMulTransposed(qh, kh, scores, tokens, headDim, tokens, parallel: parallel, lowerOnly: true);
            for (int t = 0; t < tokens; t++)
            {
                int first = Math.Max(0, t - span + 1);
                scores.AsSpan(t * tokens, first).Clear();
                var row = scores.AsSpan(t * tokens + first, t + 1 - first);
                TensorPrimitives.Multiply(row, scale, row);
                float max = TensorPrimitives.Max(row);
                TensorPrimitives.Subtract(row, max, row);
                TensorPrimitives.Exp(row, row);
                TensorPrimitives.Multiply(row, 1f / TensorPrimitives.Sum(row), row);
                scores.AsSpan(t * tokens + t + 1, tokens - t - 1).Clear();
            }
            // Probabilities past the diagonal are zeros (cleared above), so each row's sum can stop at its token.
            CpuMath.MatMulTransposed(scores, vt, oh, tokens, tokens, headDim, parallel: parallel, causalDepth: true);
            for (int t = 0; t < tokens; t++)
                oh.AsSpan(t * headDim, headDim).CopyTo(output.AsSpan(t * qStride + h * headDim, headDim));
        }
        finally
        {
            pool.Return(qh); pool.Return(kh); pool.Return(vt); pool.Return(scores); pool.Return(oh);
        }
    }
}
