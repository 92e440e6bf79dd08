using NUnit.Framework;
using Rose.Import;
using Rose.Modeling;
using Rose.Tests.Modeling;
using Rose.Tests.Support;

namespace Rose.Tests.Import;

[TestFixture]
public class Llama2cImporterTests
{
    private sealed record Tiny(int Dim, int Hidden, int Layers, int Heads, int KvHeads, int Vocab, int SeqLen, bool Shared);

    private static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData(new Tiny(16, 40, 2, 4, 2, 37, 32, true)).SetName("shared classifier GQA");
        yield return new TestCaseData(new Tiny(24, 20, 3, 2, 2, 29, 16, false)).SetName("unshared classifier MHA");
    }

    [TestCaseSource(nameof(Cases))]
    public void ConvertedModelGivesLlama2cLogits(object boxed)
    {
        var c = (Tiny)boxed;
        var dir = TinyModelFactory.TempDir("l2c");
        try
        {
            var rng = new Random(7);
            int hs = c.Dim / c.Heads, kvDim = c.KvHeads * hs;
            float[] Rand(long n, float scale = 0.3f) => Enumerable.Range(0, (int)n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray();
            float[] Norm(long n) => Rand(n, 0.2f).Select(v => 1 + v).ToArray();
            var w = new Llama2cWeights
            {
                Emb = Rand((long)c.Vocab * c.Dim, 1f),
                AttNorm = Enumerable.Range(0, c.Layers).Select(_ => Norm(c.Dim)).ToArray(),
                Wq = Enumerable.Range(0, c.Layers).Select(_ => Rand(c.Dim * c.Dim)).ToArray(),
                Wk = Enumerable.Range(0, c.Layers).Select(_ => Rand(kvDim * c.Dim)).ToArray(),
                Wv = Enumerable.Range(0, c.Layers).Select(_ => Rand(kvDim * c.Dim)).ToArray(),
                Wo = Enumerable.Range(0, c.Layers).Select(_ => Rand(c.Dim * c.Dim)).ToArray(),
                FfnNorm = Enumerable.Range(0, c.Layers).Select(_ => Norm(c.Dim)).ToArray(),
                W1 = Enumerable.Range(0, c.Layers).Select(_ => Rand(c.Hidden * c.Dim)).ToArray(),
                W2 = Enumerable.Range(0, c.Layers).Select(_ => Rand(c.Dim * c.Hidden)).ToArray(),
                W3 = Enumerable.Range(0, c.Layers).Select(_ => Rand(c.Hidden * c.Dim)).ToArray(),
                FinalNorm = Norm(c.Dim),
                Cls = c.Shared ? null : Rand((long)c.Vocab * c.Dim),
            };
            string bin = Path.Combine(dir, "model.bin"), tok = Path.Combine(dir, "tok.model"), outDir = Path.Combine(dir, "hf");
            using (var bw = new BinaryWriter(File.Create(bin)))
            {
                foreach (int v in new[] { c.Dim, c.Hidden, c.Layers, c.Heads, c.KvHeads, c.Shared ? c.Vocab : -c.Vocab, c.SeqLen }) bw.Write(v);
                void Put(IEnumerable<float> values) { foreach (var v in values) bw.Write(v); }
                Put(w.Emb);
                foreach (var a in new[] { w.AttNorm, w.Wq, w.Wk, w.Wv, w.Wo, w.FfnNorm, w.W1, w.W2, w.W3 }) foreach (var l in a) Put(l);
                Put(w.FinalNorm);
                Put(Rand((long)c.SeqLen * hs)); // legacy RoPE tables: content is ignored by both sides
                if (w.Cls is not null) Put(w.Cls);
            }
            File.WriteAllBytes(tok, [1, 2, 3]);
            Llama2cImporter.Convert(bin, tok, outDir);

            using var model = LlamaModel.Open(outDir);
            Assert.That(model.Config.TieWordEmbeddings, Is.EqualTo(c.Shared));
            var tokens = Enumerable.Range(0, 11).Select(i => (i * 5 + 1) % c.Vocab).ToArray();
            var ours = ForwardTests.ForwardLogits(model, tokens);
            var reference = new Llama2cRunForward(c.Dim, c.Hidden, c.Layers, c.Heads, c.KvHeads, c.Vocab, w);
            double maxErr = 0;
            for (int t = 0; t < tokens.Length; t++)
            {
                var logits = reference.Step(tokens[t], t);
                for (int v = 0; v < c.Vocab; v++) maxErr = Math.Max(maxErr, Math.Abs(logits[v] - ours[t * c.Vocab + v]));
            }
            Assert.That(maxErr, Is.LessThan(1e-4), $"max |logit difference| {maxErr}");
            Assert.That(File.ReadAllBytes(Path.Combine(outDir, "tokenizer.model")), Is.EqualTo(new byte[] { 1, 2, 3 }));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Test]
    public void TruncatedCheckpointIsRejectedWithFileName()
    {
        var dir = TinyModelFactory.TempDir("l2c-bad");
        try
        {
            string bin = Path.Combine(dir, "broken.bin");
            using (var bw = new BinaryWriter(File.Create(bin)))
                foreach (int v in new[] { 16, 40, 2, 4, 2, 37, 32, 0 }) bw.Write(v);
            File.WriteAllBytes(Path.Combine(dir, "t.model"), [0]);
            var e = Assert.Throws<RoseException>(() => Llama2cImporter.Convert(bin, Path.Combine(dir, "t.model"), Path.Combine(dir, "o")));
            Assert.That(e!.Message, Does.Contain("broken.bin").And.Contain("does not match"));
        }
        finally { Directory.Delete(dir, true); }
    }
}

public sealed class Llama2cWeights
{
    public required float[] Emb, FinalNorm;
    public required float[][] AttNorm, Wq, Wk, Wv, Wo, FfnNorm, W1, W2, W3;
    public float[]? Cls;
}

/// <summary>llama2.c's run.c forward, token by token with a KV cache, rotating adjacent pairs.</summary>
public sealed class Llama2cRunForward(int dim, int hidden, int layers, int heads, int kvHeads, int vocab, Llama2cWeights w)
{
    private readonly int _hs = dim / heads;
    private readonly List<float[]>[] _keys = Enumerable.Range(0, layers).Select(_ => new List<float[]>()).ToArray();
    private readonly List<float[]>[] _values = Enumerable.Range(0, layers).Select(_ => new List<float[]>()).ToArray();

    private static float[] MatVec(float[] m, float[] x, int d) =>
        Enumerable.Range(0, d).Select(i => { float s = 0; for (int j = 0; j < x.Length; j++) s += m[i * x.Length + j] * x[j]; return s; }).ToArray();

    private static float[] RmsNorm(float[] x, float[] weight)
    {
        float ss = 0;
        foreach (var v in x) ss += v * v;
        ss = 1f / MathF.Sqrt(ss / x.Length + 1e-5f);
        return x.Select((v, i) => weight[i] * (ss * v)).ToArray();
    }

    public float[] Step(int token, int pos)
    {
        int kvDim = kvHeads * _hs;
        var x = w.Emb.AsSpan(token * dim, dim).ToArray();
        for (int l = 0; l < layers; l++)
        {
            var xb = RmsNorm(x, w.AttNorm[l]);
            var q = MatVec(w.Wq[l], xb, dim);
            var k = MatVec(w.Wk[l], xb, kvDim);
            var v = MatVec(w.Wv[l], xb, kvDim);
            for (int i = 0; i < dim; i += 2)
            {
                int headDim = i % _hs;
                float freq = 1f / MathF.Pow(10000f, headDim / (float)_hs);
                float val = pos * freq, fcr = MathF.Cos(val), fci = MathF.Sin(val);
                int rotn = i < kvDim ? 2 : 1;
                for (int r = 0; r < rotn; r++)
                {
                    var vec = r == 0 ? q : k;
                    float v0 = vec[i], v1 = vec[i + 1];
                    vec[i] = v0 * fcr - v1 * fci;
                    vec[i + 1] = v0 * fci + v1 * fcr;
                }
            }
            _keys[l].Add(k);
            _values[l].Add(v);
            var att = new float[dim];
            for (int h = 0; h < heads; h++)
            {
                int g = h / (heads / kvHeads);
                var scores = new float[pos + 1];
                for (int t = 0; t <= pos; t++)
                {
                    float s = 0;
                    for (int i = 0; i < _hs; i++) s += q[h * _hs + i] * _keys[l][t][g * _hs + i];
                    scores[t] = s / MathF.Sqrt(_hs);
                }
                float max = scores.Max(), sum = 0;
                for (int t = 0; t <= pos; t++) { scores[t] = MathF.Exp(scores[t] - max); sum += scores[t]; }
                for (int t = 0; t <= pos; t++)
                    for (int i = 0; i < _hs; i++) att[h * _hs + i] += scores[t] / sum * _values[l][t][g * _hs + i];
            }
            var o = MatVec(w.Wo[l], att, dim);
            for (int i = 0; i < dim; i++) x[i] += o[i];
            xb = RmsNorm(x, w.FfnNorm[l]);
            var h1 = MatVec(w.W1[l], xb, hidden);
            var h3 = MatVec(w.W3[l], xb, hidden);
            var m = h1.Select((a, i) => a * (1f / (1f + MathF.Exp(-a))) * h3[i]).ToArray();
            var down = MatVec(w.W2[l], m, dim);
            for (int i = 0; i < dim; i++) x[i] += down[i];
        }
        x = RmsNorm(x, w.FinalNorm);
        return MatVec(w.Cls ?? w.Emb, x, vocab);
    }
}
