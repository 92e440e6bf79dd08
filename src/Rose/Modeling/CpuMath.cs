using System.Numerics.Tensors;

namespace Rose.Modeling;

/// <summary>The fp32 CPU primitives of the forward pass. Span-based; parallel where the work is large.</summary>
public static class CpuMath
{
    private const int RowTile = 32;
    private const int TokenTile = 64;

    /// <summary>y[t, o] = Σ_i x[t, i]·w[o, i] (+ bias[o]); x is tokens × inF, w is outF × inF.</summary>
    public static unsafe void MatMulTransposed(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y,
        int tokens, int inF, int outF, ReadOnlySpan<float> bias = default)
    {
        if (x.Length < (long)tokens * inF || w.Length < (long)outF * inF || y.Length < (long)tokens * outF)
            throw new ArgumentException("MatMulTransposed: buffer too small");
        fixed (float* px = x, pw = w, py = y, pb = bias)
        {
            nint ax = (nint)px, aw = (nint)pw, ay = (nint)py, ab = (nint)pb;
            bool hasBias = !bias.IsEmpty;
            int rowTiles = (outF + RowTile - 1) / RowTile;
            int tokTiles = (tokens + TokenTile - 1) / TokenTile;
            long work = (long)tokens * inF * outF;
            void Tile(int tileIndex)
            {
                int rt = tileIndex % rowTiles, tt = tileIndex / rowTiles;
                int o0 = rt * RowTile, o1 = Math.Min(outF, o0 + RowTile);
                int t0 = tt * TokenTile, t1 = Math.Min(tokens, t0 + TokenTile);
                float* xs = (float*)ax, ws = (float*)aw, ys = (float*)ay, bs = (float*)ab;
                for (int o = o0; o < o1; o++)
                {
                    var wRow = new ReadOnlySpan<float>(ws + (long)o * inF, inF);
                    float b = hasBias ? bs[o] : 0f;
                    for (int t = t0; t < t1; t++)
                        ys[(long)t * outF + o] = TensorPrimitives.Dot(new ReadOnlySpan<float>(xs + (long)t * inF, inF), wRow) + b;
                }
            }
            int count = rowTiles * tokTiles;
            if (work < 1 << 18) { for (int i = 0; i < count; i++) Tile(i); }
            else Parallel.For(0, count, Tile);
        }
    }

    /// <summary>HF LlamaRMSNorm: y = w ⊙ x / sqrt(mean(x²) + eps), per token.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int tokens, int dim, float eps)
    {
        for (int t = 0; t < tokens; t++)
        {
            var row = x.Slice(t * dim, dim);
            var outRow = y.Slice(t * dim, dim);
            float meanSquare = TensorPrimitives.SumOfSquares(row) / dim;
            float inv = 1f / MathF.Sqrt(meanSquare + eps);
            TensorPrimitives.Multiply(row, inv, outRow);
            TensorPrimitives.Multiply(outRow, weight, outRow);
        }
    }

    /// <summary>SwiGLU: gate ← silu(gate) ⊙ up, silu(g) = g / (1 + e^−g).</summary>
    public static void SiluMultiply(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            float g = gate[i];
            gate[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }
}
