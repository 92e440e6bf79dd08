using System.Numerics.Tensors;

namespace Rose.Modeling;

/// <summary>Causal grouped-query attention, fp32, as HF's eager path computes it:
/// out[t, h] = Σ_{s≤t} softmax_s(q[t,h]·k[s,g]/√d) · v[s,g], with g = h / (heads / kvHeads).</summary>
public static class CausalAttention
{
    public static unsafe void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> output,
        int tokens, int heads, int kvHeads, int headDim)
    {
        int groupSize = heads / kvHeads;
        float scale = 1f / MathF.Sqrt(headDim);
        int qStride = heads * headDim, kvStride = kvHeads * headDim;
        fixed (float* pq = q, pk = k, pv = v, po = output)
        {
            nint aq = (nint)pq, ak = (nint)pk, av = (nint)pv, ao = (nint)po;
            void Row(int index)
            {
                int h = index % heads, t = index / heads, g = h / groupSize;
                float* qs = (float*)aq, ks = (float*)ak, vs = (float*)av, os = (float*)ao;
                var scores = t + 1 <= 1024 ? stackalloc float[t + 1] : new float[t + 1];
                var qRow = new ReadOnlySpan<float>(qs + (long)t * qStride + h * headDim, headDim);
                for (int s = 0; s <= t; s++)
                    scores[s] = TensorPrimitives.Dot(qRow, new ReadOnlySpan<float>(ks + (long)s * kvStride + g * headDim, headDim)) * scale;
                float max = TensorPrimitives.Max(scores);
                TensorPrimitives.Subtract(scores, max, scores);
                TensorPrimitives.Exp(scores, scores);
                TensorPrimitives.Multiply(scores, 1f / TensorPrimitives.Sum(scores), scores);
                var outRow = new Span<float>(os + (long)t * qStride + h * headDim, headDim);
                outRow.Clear();
                for (int s = 0; s <= t; s++)
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(vs + (long)s * kvStride + g * headDim, headDim), scores[s], outRow, outRow);
            }
            int count = tokens * heads;
            if ((long)tokens * tokens * heads * headDim < 1 << 18) { for (int i = 0; i < count; i++) Row(i); }
            else Parallel.For(0, count, Row);
        }
    }
}
