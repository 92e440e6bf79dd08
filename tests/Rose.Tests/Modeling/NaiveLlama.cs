namespace Rose.Tests.Modeling;

/// <summary>A deliberately plain, double-precision HF LLaMA forward (explicit loops, rotate-half
/// RoPE from given inverse frequencies), independent of Rose's optimized code, to check it against.</summary>
public sealed class NaiveLlama
{
    public required int Hidden, Intermediate, Layers, Heads, KvHeads, HeadDim, Vocab;
    public required double Eps;
    public required double[] InvFreq;
    public required Func<string, float[]> Tensor;
    public required Func<string, bool> Has;
    public bool Tied;

    /// <summary>Layer l's sliding window W (query t sees keys t − W < s ≤ t), or null for full causal attention.</summary>
    public Func<int, int?> Window = _ => null;

    /// <summary>Rounding to the model's activation dtype, applied where HF holds a tensor of that dtype
    /// (norm outputs and the normalized row before the weight, every projection, cos, sin and each step
    /// of RoPE, attention output, each step of SwiGLU, the stream after each add); identity for fp32.</summary>
    public Func<double, double> Round = v => v;

    public double[][] Logits(int[] tokens)
    {
        int T = tokens.Length;
        var emb = Tensor("model.embed_tokens.weight");
        var x = new double[T][];
        for (int t = 0; t < T; t++) x[t] = Enumerable.Range(0, Hidden).Select(i => (double)emb[tokens[t] * Hidden + i]).ToArray();
        for (int l = 0; l < Layers; l++)
        {
            string p = $"model.layers.{l}.";
            var h = x.Select(r => RmsNorm(r, Tensor(p + "input_layernorm.weight"))).ToArray();
            var q = h.Select(r => RoundAll(Linear(r, p + "self_attn.q_proj"))).ToArray();
            var k = h.Select(r => RoundAll(Linear(r, p + "self_attn.k_proj"))).ToArray();
            var v = h.Select(r => RoundAll(Linear(r, p + "self_attn.v_proj"))).ToArray();
            for (int t = 0; t < T; t++) { Rope(q[t], Heads, t); Rope(k[t], KvHeads, t); }
            var attn = new double[T][];
            for (int t = 0; t < T; t++)
            {
                attn[t] = new double[Heads * HeadDim];
                for (int hh = 0; hh < Heads; hh++)
                {
                    int g = hh / (Heads / KvHeads);
                    int first = Window(l) is int w ? Math.Max(0, t - w + 1) : 0;
                    var scores = new double[t + 1];
                    Array.Fill(scores, double.NegativeInfinity);
                    for (int s = first; s <= t; s++)
                    {
                        double dot = 0;
                        for (int i = 0; i < HeadDim; i++) dot += q[t][hh * HeadDim + i] * k[s][g * HeadDim + i];
                        scores[s] = dot / Math.Sqrt(HeadDim);
                    }
                    double max = scores.Max(), sum = scores.Sum(sc => Math.Exp(sc - max));
                    for (int s = first; s <= t; s++)
                        for (int i = 0; i < HeadDim; i++)
                            attn[t][hh * HeadDim + i] += Math.Exp(scores[s] - max) / sum * v[s][g * HeadDim + i];
                }
            }
            for (int t = 0; t < T; t++) Add(x[t], Linear(RoundAll(attn[t]), p + "self_attn.o_proj"));

            var h2 = x.Select(r => RmsNorm(r, Tensor(p + "post_attention_layernorm.weight"))).ToArray();
            for (int t = 0; t < T; t++)
            {
                var gate = RoundAll(Linear(h2[t], p + "mlp.gate_proj"));
                var up = RoundAll(Linear(h2[t], p + "mlp.up_proj"));
                var m = gate.Select((g, i) => Round(Round(g / (1 + Math.Exp(-g))) * up[i])).ToArray();
                Add(x[t], Linear(m, p + "mlp.down_proj"));
            }

        }
        var head = Tied || !Has("lm_head.weight") ? emb : Tensor("lm_head.weight");
        return x.Select(r =>
        {
            var n = RmsNorm(r, Tensor("model.norm.weight"));
            return Enumerable.Range(0, Vocab).Select(o => Enumerable.Range(0, Hidden).Sum(i => n[i] * head[o * Hidden + i])).ToArray();
        }).ToArray();
    }

    private double[] RmsNorm(double[] x, float[] w)
    {
        double ms = x.Sum(v => v * v) / x.Length;
        return x.Select((v, i) => Round(w[i] * Round(v / Math.Sqrt(ms + Eps)))).ToArray();
    }

    private double[] RoundAll(double[] x) => x.Select(Round).ToArray();

    private double[] Linear(double[] x, string module)
    {
        var w = Tensor(module + ".weight");
        int outF = w.Length / x.Length;
        var b = Has(module + ".bias") ? Tensor(module + ".bias") : null;
        var y = new double[outF];
        for (int o = 0; o < outF; o++)
        {
            double s = b?[o] ?? 0;
            for (int i = 0; i < x.Length; i++) s += x[i] * w[o * x.Length + i];
            y[o] = s;
        }
        return y;
    }

    private void Rope(double[] v, int heads, int pos)
    {
        int half = HeadDim / 2;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
            {
                // θ in fp32, as HF multiplies positions by inv_freq in fp32.
                double angle = (float)pos * (float)InvFreq[i], c = Round(Math.Cos(angle)), s = Round(Math.Sin(angle));
                double a = v[h * HeadDim + i], b = v[h * HeadDim + i + half];
                v[h * HeadDim + i] = Round(Round(a * c) - Round(b * s));
                v[h * HeadDim + i + half] = Round(Round(b * c) + Round(a * s));
            }
    }

    private void Add(double[] x, double[] y) { for (int i = 0; i < x.Length; i++) x[i] = Round(x[i] + Round(y[i])); }
}
