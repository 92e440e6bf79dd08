using NUnit.Framework;
using Rose.Evaluation;
using Rose.Modeling;
using Rose.SafeTensors;
using Rose.Synthesis;
using Rose.Tests.Support;

namespace Rose.Tests.Synthesis;

[TestFixture]
public sealed class SyntheticCheckpointTests
{
    private readonly List<string> _dirs = [];

    [TearDown]
    public void CleanUp()
    {
        foreach (var d in _dirs)
            if (Directory.Exists(d)) Directory.Delete(d, recursive: true);
        _dirs.Clear();
    }

    private string Dir(string name)
    {
        var d = TinyModelFactory.TempDir(name);
        _dirs.Add(d);
        return d;
    }

    [TestCase(DType.BF16)]
    [TestCase(DType.F16)]
    public void TinyTwoLayerCheckpointOpensWithRightShapesAndGivesFinitePerplexity(DType dtype)
    {
        var dir = Dir("synth-tiny");
        SyntheticCheckpoint.Write("tiny", dtype, dir, layersOverride: 2, seed: 7);

        using var model = LlamaModel.Open(dir);
        var a = SyntheticArchitecture.Tiny;
        Assert.That(model.LayerCount, Is.EqualTo(2));
        Assert.That(model.Config.VocabSize, Is.EqualTo(258));
        Assert.That(model.Config.NumKeyValueHeads, Is.EqualTo(4));
        Assert.That(model.Config.BosTokenId, Is.EqualTo(256));
        foreach (var name in model.Checkpoint.TensorNames)
            Assert.That(model.Checkpoint.GetInfo(name).DType, Is.EqualTo(dtype), name);
        Assert.That(model.Checkpoint.GetInfo(LinearKinds.WeightName(1, LinearKind.K)).Shape, Is.EqualTo(new long[] { 4 * 32, 256 }));
        Assert.That(model.Checkpoint.GetInfo(LinearKinds.WeightName(0, LinearKind.Down)).Shape, Is.EqualTo(new long[] { 256, 688 }));
        Assert.That(model.Checkpoint.GetInfo(LlamaModel.LmHeadName).Shape, Is.EqualTo(new long[] { a.Vocab, a.Hidden }));

        var norm = model.Checkpoint.ReadFloat32("model.layers.0.input_layernorm.weight");
        Assert.That(norm, Is.All.EqualTo(1f));
        var q = model.Checkpoint.ReadFloat32(LinearKinds.WeightName(0, LinearKind.Q));
        double mean = q.Average(v => (double)v), std = Math.Sqrt(q.Average(v => (double)v * v) - mean * mean);
        Assert.That(mean, Is.EqualTo(0).Within(0.001));
        Assert.That(std, Is.EqualTo(0.02).Within(0.0005));

        var text = string.Concat(Enumerable.Repeat("Once upon a time there was a little fox who liked the sun. ", 12));
        var result = new PerplexityEvaluator(model).Evaluate(text, seqLen: 128);
        Assert.That(result.Windows, Is.GreaterThanOrEqualTo(1));
        Assert.That(double.IsFinite(result.Perplexity) && result.Perplexity > 1, Is.True, $"perplexity {result.Perplexity}");
    }

    [Test]
    public void SameSeedGivesIdenticalBytesAndAnotherSeedDiffers()
    {
        string a = Dir("synth-a"), b = Dir("synth-b"), c = Dir("synth-c");
        SyntheticCheckpoint.Write("tiny", DType.BF16, a, 1, seed: 42);
        SyntheticCheckpoint.Write("tiny", DType.BF16, b, 1, seed: 42);
        SyntheticCheckpoint.Write("tiny", DType.BF16, c, 1, seed: 43);
        var file = Checkpoint.SingleFileName;
        Assert.That(File.ReadAllBytes(Path.Combine(a, file)), Is.EqualTo(File.ReadAllBytes(Path.Combine(b, file))));
        Assert.That(File.ReadAllBytes(Path.Combine(a, file)), Is.Not.EqualTo(File.ReadAllBytes(Path.Combine(c, file))));
    }

    [Test]
    public void RealArchitecturesHaveTheirPublishedShapes()
    {
        long Params(SyntheticArchitecture arch) => SyntheticCheckpoint.TensorSpecs(arch, DType.BF16).Sum(s => s.NumElements);
        Assert.That(Params(SyntheticArchitecture.Llama2_7B), Is.EqualTo(6_738_415_616L));
        Assert.That(Params(SyntheticArchitecture.Llama3_8B), Is.EqualTo(8_030_261_248L));
        Assert.That(Params(SyntheticArchitecture.Mistral_7B), Is.EqualTo(7_241_732_096L));
        Assert.That(Params(SyntheticArchitecture.Llama2_13B), Is.EqualTo(13_015_864_320L));
        Assert.That(Params(SyntheticArchitecture.Llama2_70B), Is.EqualTo(68_976_648_192L));
        Assert.That(Params(SyntheticArchitecture.Llama3_70B), Is.EqualTo(70_553_706_496L));
        Assert.That(Params(SyntheticArchitecture.Qwen2_7B), Is.EqualTo(7_615_616_512L));
        var plan = CheckpointWriter.Plan(SyntheticCheckpoint.TensorSpecs(SyntheticArchitecture.Llama2_7B, DType.BF16));
        Assert.That(plan.Count, Is.EqualTo(3));
        Assert.That(plan.All(s => s.ByteLength <= CheckpointWriter.DefaultMaxShardBytes), Is.True);
    }

    [Test]
    public void Llama3ConfigCarriesItsRopeScaling()
    {
        var dir = Dir("synth-cfg");
        var json = SyntheticCheckpoint.ConfigJson(SyntheticArchitecture.Llama3_8B, DType.BF16).ToJsonString();
        File.WriteAllText(Path.Combine(dir, "config.json"), json);
        var config = Rose.Models.ModelConfig.Load(dir);
        Assert.That(config.RopeScaling?.Type, Is.EqualTo("llama3"));
        Assert.That(config.RopeTheta, Is.EqualTo(500000));
        Assert.That(config.NumKeyValueHeads, Is.EqualTo(8));
        Assert.That(config.MaxPositionEmbeddings, Is.EqualTo(8192));
    }

    [Test]
    public void UnknownArchitectureIsAOneLineError()
    {
        var e = Assert.Throws<RoseException>(() => SyntheticCheckpoint.Write("gpt2", DType.BF16, Dir("synth-bad")));
        Assert.That(e!.Message, Does.Contain("gpt2").And.Not.Contain("\n"));
    }
    /// <summary>A Qwen2-shaped checkpoint (cut to 1 layer and a small vocabulary to stay quick) carries q/k/v biases
    /// the model reads and applies, and its config reads back as Qwen2 with the sliding window off.</summary>
    [Test]
    public void Qwen2CheckpointCarriesQkvBiasesTheModelApplies()
    {
        var dir = Dir("synth-qwen2");
        var arch = SyntheticArchitecture.Qwen2_7B with { Hidden = 128, Intermediate = 256, Heads = 4, KvHeads = 2, Vocab = 300, Layers = 1 };
        SyntheticCheckpoint.Write(arch, DType.BF16, dir, seed: 3);
        using var model = LlamaModel.Open(dir);
        Assert.That(model.Config.ModelType, Is.EqualTo("qwen2"));
        Assert.That(model.Config.QkvBias, Is.True);
        Assert.That(model.Config.AttentionWindows, Is.Empty);
        var layer = model.LoadLayer(0);
        foreach (var kind in new[] { LinearKind.Q, LinearKind.K, LinearKind.V })
        {
            var bias = layer[kind].Bias;
            Assert.That(bias, Is.Not.Null, kind.ToString());
            Assert.That(bias!.Length, Is.EqualTo(kind == LinearKind.Q ? 128 : 64));
            Assert.That(bias.Count(v => v != 0), Is.GreaterThan(bias.Length / 2), $"{kind} bias is random");
        }
        Assert.That(layer[LinearKind.O].Bias, Is.Null);
    }
}
