using NUnit.Framework;
using System.Text.Json.Nodes;
using Rose.Modeling;
using Rose.SafeTensors;
using Rose.Tests.Support;

namespace Rose.Tests.Modeling;

[TestFixture]
public class ForwardTests
{
    internal static float[] ForwardLogits(LlamaModel model, int[] tokens)
    {
        var hidden = new float[tokens.Length * model.Shape.Hidden];
        model.Embed(tokens, hidden);
        var forward = new DecoderLayerForward(model.Shape, model.Rope) { Rounding = model.ActivationDType };
        for (int l = 0; l < model.LayerCount; l++) forward.Run(model.LoadLayer(l), hidden, tokens.Length);
        var logits = new float[tokens.Length * model.Config.VocabSize];
        model.LoadHead().Logits(hidden, logits, tokens.Length);
        return logits;
    }

    private static IEnumerable<TestCaseData> Specs()
    {
        yield return new TestCaseData(new TinyModelSpec()).SetName("llama GQA untied");
        yield return new TestCaseData(new TinyModelSpec { Tied = true, KvHeads = 4 }).SetName("llama MHA tied");
        yield return new TestCaseData(new TinyModelSpec { ModelType = "qwen2", QkvBias = true, RopeTheta = 1e6 }).SetName("qwen2 qkv bias");
        yield return new TestCaseData(new TinyModelSpec { ModelType = "mistral", KvHeads = 1, DType = DType.BF16 }).SetName("mistral MQA bf16");
        yield return new TestCaseData(new TinyModelSpec
        {
            RopeTheta = 500000,
            RopeScaling = new JsonObject { ["rope_type"] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0, ["original_max_position_embeddings"] = 16 },
        }).SetName("llama3 rope scaling");
        yield return new TestCaseData(new TinyModelSpec { RopeScaling = new JsonObject { ["type"] = "linear", ["factor"] = 4.0 } }).SetName("linear rope scaling");
        yield return new TestCaseData(new TinyModelSpec { ModelType = "mistral", ExtraConfig = new JsonObject { ["sliding_window"] = 5 } })
            .SetName("mistral sliding window");
        yield return new TestCaseData(new TinyModelSpec
        {
            ModelType = "qwen2", QkvBias = true,
            ExtraConfig = new JsonObject { ["sliding_window"] = 7, ["use_sliding_window"] = true, ["max_window_layers"] = 1 },
        }).SetName("qwen2 sliding window from layer 1");
    }

    [TestCaseSource(nameof(Specs))]
    public void ForwardMatchesNaiveImplementation(TinyModelSpec spec)
    {
        var dir = TinyModelFactory.Create(spec, TinyModelFactory.TempDir("fwd"));
        try
        {
            using var model = LlamaModel.Open(dir);
            var tokens = Enumerable.Range(0, 23).Select(i => (i * 7 + 3) % spec.Vocab).ToArray();
            var ours = ForwardLogits(model, tokens);
            var naive = new NaiveLlama
            {
                Round = NaiveRounding(model.ActivationDType),
                Hidden = spec.Hidden, Intermediate = spec.Intermediate, Layers = spec.Layers, Heads = spec.Heads,
                KvHeads = spec.KvHeads, HeadDim = spec.Hidden / spec.Heads, Vocab = spec.Vocab, Eps = 1e-6,
                InvFreq = model.Config.InverseFrequencies().Select(f => (double)f).ToArray(),
                Tensor = model.Checkpoint.ReadFloat32, Has = model.Checkpoint.Contains, Tied = spec.Tied,
                Window = NaiveWindow(spec),
            }.Logits(tokens);
            double maxErr = 0;
            for (int t = 0; t < tokens.Length; t++)
                for (int v = 0; v < spec.Vocab; v++)
                    maxErr = Math.Max(maxErr, Math.Abs(ours[t * spec.Vocab + v] - naive[t][v]));
            // fp32 against fp64 through a few layers of unit-scale activations: errors stay near 1e-6.
            Assert.That(maxErr, Is.LessThan(1e-4), $"max |logit difference| {maxErr}");
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>Which layers the spec windows, as HF's config classes read it (written out here, not taken from ModelConfig).</summary>
    private static Func<int, int?> NaiveWindow(TinyModelSpec spec)
    {
        var extra = spec.ExtraConfig;
        if (extra?["sliding_window"] is not { } node) return _ => null;
        int window = node.GetValue<int>();
        if (spec.ModelType == "mistral") return _ => window;
        if (spec.ModelType == "qwen2" && extra["use_sliding_window"]?.GetValue<bool>() == true)
        {
            int first = extra["max_window_layers"]?.GetValue<int>() ?? 28;
            return l => l >= first ? window : null;
        }
        return _ => null;
    }

    private static Func<double, double> NaiveRounding(DType dtype) => dtype switch
    {
        DType.BF16 => v => FloatConversion.BFloat16ToSingle(FloatConversion.SingleToBFloat16((float)v)),
        DType.F16 => v => (double)(Half)(float)v,
        _ => v => v,
    };

    /// <summary>A 16-bit model's forward rounds where HF does: the CPU forward is much closer to a double
    /// reference that rounds at those points than to one that does not. fp16's longer mantissa makes a
    /// one-ulp flip (fp32 against fp64 arithmetic just below a rounding boundary) likelier, and one flip
    /// in the residual stream moves every later token, so its margin is smaller.</summary>
    [TestCase(DType.BF16, 20)]
    [TestCase(DType.F16, 2)]
    public void HalfPrecisionForwardRoundsWhereTheReferenceDoes(DType dtype, double margin)
    {
        var spec = new TinyModelSpec { DType = dtype, Hidden = 64, Intermediate = 96, Heads = 4, KvHeads = 2 };
        var dir = TinyModelFactory.Create(spec, TinyModelFactory.TempDir("fwd16"));
        try
        {
            using var model = LlamaModel.Open(dir);
            Assert.That(model.ActivationDType, Is.EqualTo(dtype));
            var tokens = Enumerable.Range(0, 40).Select(i => (i * 11 + 5) % spec.Vocab).ToArray();
            var ours = ForwardLogits(model, tokens);
            double Rms(Func<double, double> round)
            {
                var naive = new NaiveLlama
                {
                    Round = round,
                    Hidden = spec.Hidden, Intermediate = spec.Intermediate, Layers = spec.Layers, Heads = spec.Heads,
                    KvHeads = spec.KvHeads, HeadDim = spec.Hidden / spec.Heads, Vocab = spec.Vocab, Eps = 1e-6,
                    InvFreq = model.Config.InverseFrequencies().Select(f => (double)f).ToArray(),
                    Tensor = model.Checkpoint.ReadFloat32, Has = model.Checkpoint.Contains,
                }.Logits(tokens);
                double sum = 0;
                for (int t = 0; t < tokens.Length; t++)
                    for (int v = 0; v < spec.Vocab; v++)
                        sum += Math.Pow(ours[t * spec.Vocab + v] - naive[t][v], 2);
                return Math.Sqrt(sum / (tokens.Length * spec.Vocab));
            }
            double rounded = Rms(NaiveRounding(dtype)), unrounded = Rms(v => v);
            TestContext.Out.WriteLine($"{dtype}: rms logit error against the rounding reference {rounded:E2}, against the fp64 one {unrounded:E2}");
            Assert.That(unrounded, Is.GreaterThan(0), "the forward rounded nothing");
            Assert.That(rounded, Is.LessThan(unrounded / margin), "the forward does not round where the reference does");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Test]
    public void RotaryTablesDifferWithScaling()
    {
        // Guards against the scaling being parsed but ignored.
        var plain = TinyModelFactory.Create(new TinyModelSpec(), TinyModelFactory.TempDir("rope"));
        var scaled = TinyModelFactory.Create(new TinyModelSpec { RopeScaling = new JsonObject { ["type"] = "linear", ["factor"] = 4.0 } }, TinyModelFactory.TempDir("rope"));
        try
        {
            using var a = LlamaModel.Open(plain);
            using var b = LlamaModel.Open(scaled);
            var tokens = new[] { 1, 2, 3, 4, 5, 6 };
            Assert.That(ForwardLogits(a, tokens), Is.Not.EqualTo(ForwardLogits(b, tokens)));
        }
        finally { Directory.Delete(plain, true); Directory.Delete(scaled, true); }
    }
}
