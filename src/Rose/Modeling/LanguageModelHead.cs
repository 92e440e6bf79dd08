using Rose.SafeTensors;

namespace Rose.Modeling;

/// <summary>Final RMSNorm + lm_head, and the next-token negative log-likelihood the perplexity
/// protocol needs. Logits are produced a chunk of tokens at a time so a 128k vocabulary fits.</summary>
public sealed class LanguageModelHead
{
    private const int TokenChunk = 64;
    private readonly float[] _norm;
    private readonly float[] _weight;
    private readonly int _vocab;
    private readonly int _hidden;
    private readonly float _eps;
    private readonly DType _rounding;

    /// <param name="rounding">The model's activation dtype: the final norm's output is rounded to it.</param>
    public LanguageModelHead(float[] norm, float[] weight, int vocab, int hidden, float eps, DType rounding = DType.F32)
    {
        _rounding = rounding;
        _norm = norm;
        _weight = weight;
        _vocab = vocab;
        _hidden = hidden;
        _eps = eps;
    }

    public int VocabSize => _vocab;

    /// <summary>logits (tokens × vocab) of the final hidden states.</summary>
    public void Logits(ReadOnlySpan<float> hidden, Span<float> logits, int tokens)
    {
        var normed = new float[tokens * _hidden];
        CpuMath.RmsNorm(hidden, _norm, normed, tokens, _hidden, _eps, _rounding);
        CpuMath.MatMulTransposed(normed, _weight, logits, tokens, _hidden, _vocab);
    }

    /// <summary>Mean over t &lt; tokens−1 of −log softmax(logits[t])[targets[t+1]]: HF's shifted
    /// cross-entropy over one window.</summary>
    public double MeanNextTokenLoss(ReadOnlySpan<float> hidden, ReadOnlySpan<int> targets, int tokens)
    {
        if (tokens < 2) throw new ArgumentException("a window needs at least two tokens");
        var logits = new float[TokenChunk * _vocab];
        double total = 0;
        int predictions = tokens - 1;
        for (int t0 = 0; t0 < predictions; t0 += TokenChunk)
        {
            int n = Math.Min(TokenChunk, predictions - t0);
            Logits(hidden.Slice(t0 * _hidden, n * _hidden), logits, n);
            for (int i = 0; i < n; i++)
            {
                var row = logits.AsSpan(i * _vocab, _vocab);
                total += LogSumExp(row) - row[targets[t0 + i + 1]];
            }
        }
        return total / predictions;
    }

    private static double LogSumExp(ReadOnlySpan<float> row)
    {
        float max = System.Numerics.Tensors.TensorPrimitives.Max(row);
        double sum = 0;
        foreach (float v in row) sum += Math.Exp(v - max);
        return max + Math.Log(sum);
    }
}
