using NUnit.Framework;
using Rose.Models;

namespace Rose.Tests.Config;

[TestFixture]
public class ModelConfigTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "rose-config-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private ModelConfig LoadFixture(string json)
    {
        File.WriteAllText(Path.Combine(_dir, "config.json"), json);
        return ModelConfig.Load(_dir);
    }

    private string ConfigPath => Path.Combine(_dir, "config.json");

    private RoseException LoadFails(string json)
    {
        File.WriteAllText(ConfigPath, json);
        return Assert.Throws<RoseException>(() => ModelConfig.Load(_dir))!;
    }

    [Test]
    public void Llama2_7B_ReadsEveryField()
    {
        var c = LoadFixture(ConfigFixtures.Llama2_7B);
        Assert.Multiple(() =>
        {
            Assert.That(c.SourcePath, Is.EqualTo(ConfigPath));
            Assert.That(c.ModelType, Is.EqualTo("llama"));
            Assert.That(c.Architecture, Is.EqualTo("LlamaForCausalLM"));
            Assert.That(c.HiddenSize, Is.EqualTo(4096));
            Assert.That(c.IntermediateSize, Is.EqualTo(11008));
            Assert.That(c.NumHiddenLayers, Is.EqualTo(32));
            Assert.That(c.NumAttentionHeads, Is.EqualTo(32));
            Assert.That(c.NumKeyValueHeads, Is.EqualTo(32));
            Assert.That(c.KeyValueGroups, Is.EqualTo(1));
            Assert.That(c.HeadDim, Is.EqualTo(128));
            Assert.That(c.RmsNormEps, Is.EqualTo(1e-5));
            Assert.That(c.RopeTheta, Is.EqualTo(10000.0));
            Assert.That(c.RopeScaling, Is.Null);
            Assert.That(c.MaxPositionEmbeddings, Is.EqualTo(4096));
            Assert.That(c.TieWordEmbeddings, Is.False);
            Assert.That(c.AttentionBias, Is.False);
            Assert.That(c.QkvBias, Is.False);
            Assert.That(c.OProjBias, Is.False);
            Assert.That(c.MlpBias, Is.False);
            Assert.That(c.VocabSize, Is.EqualTo(32000));
            Assert.That(c.TorchDtype, Is.EqualTo("float16"));
            Assert.That(c.BosTokenId, Is.EqualTo(1));
            Assert.That(c.EosTokenId, Is.EqualTo(2));
            Assert.That(c.SlidingWindow, Is.Null);
        });
    }

    [Test]
    public void Llama31_8B_ReadsGqaLlama3ScalingAndFirstEosId()
    {
        var c = LoadFixture(ConfigFixtures.Llama31_8B);
        Assert.Multiple(() =>
        {
            Assert.That(c.NumAttentionHeads, Is.EqualTo(32));
            Assert.That(c.NumKeyValueHeads, Is.EqualTo(8));
            Assert.That(c.KeyValueGroups, Is.EqualTo(4));
            Assert.That(c.HeadDim, Is.EqualTo(128));
            Assert.That(c.IntermediateSize, Is.EqualTo(14336));
            Assert.That(c.RopeTheta, Is.EqualTo(500000.0));
            Assert.That(c.RopeScaling, Is.EqualTo(new RopeScaling("llama3", 8.0, 1.0, 4.0, 8192)));
            Assert.That(c.MaxPositionEmbeddings, Is.EqualTo(131072));
            Assert.That(c.VocabSize, Is.EqualTo(128256));
            Assert.That(c.TorchDtype, Is.EqualTo("bfloat16"));
            Assert.That(c.BosTokenId, Is.EqualTo(128000));
            Assert.That(c.EosTokenId, Is.EqualTo(128001));
        });
    }

    [Test]
    public void Mistral_7B_ReadsSlidingWindowAndGqa()
    {
        var c = LoadFixture(ConfigFixtures.Mistral_7B);
        Assert.Multiple(() =>
        {
            Assert.That(c.ModelType, Is.EqualTo("mistral"));
            Assert.That(c.Architecture, Is.EqualTo("MistralForCausalLM"));
            Assert.That(c.NumKeyValueHeads, Is.EqualTo(8));
            Assert.That(c.IntermediateSize, Is.EqualTo(14336));
            Assert.That(c.SlidingWindow, Is.EqualTo(4096));
            Assert.That(c.MaxPositionEmbeddings, Is.EqualTo(32768));
            Assert.That(c.QkvBias || c.OProjBias || c.MlpBias, Is.False);
        });
    }

    [Test]
    public void Qwen2_HasQkvBiasButNoOProjBias()
    {
        var c = LoadFixture(ConfigFixtures.Qwen2_05B);
        Assert.Multiple(() =>
        {
            Assert.That(c.ModelType, Is.EqualTo("qwen2"));
            Assert.That(c.Architecture, Is.EqualTo("Qwen2ForCausalLM"));
            Assert.That(c.HeadDim, Is.EqualTo(64));
            Assert.That(c.NumKeyValueHeads, Is.EqualTo(2));
            Assert.That(c.KeyValueGroups, Is.EqualTo(7));
            Assert.That(c.AttentionBias, Is.True);
            Assert.That(c.QkvBias, Is.True);
            Assert.That(c.OProjBias, Is.False);
            Assert.That(c.MlpBias, Is.False);
            Assert.That(c.TieWordEmbeddings, Is.True);
            Assert.That(c.RopeTheta, Is.EqualTo(1_000_000.0));
            Assert.That(c.RmsNormEps, Is.EqualTo(1e-6));
            Assert.That(c.SlidingWindow, Is.EqualTo(131072));
        });
    }

    [Test]
    public void Llama_AttentionBiasCoversQkvAndOProj_MlpBiasIsSeparate()
    {
        var json = ConfigFixtures.TinyLlamaWith("attention_bias", "true")
            .Replace("}", ", \"mlp_bias\": true}");
        var c = ModelConfig.Parse(json, "x/config.json");
        Assert.Multiple(() =>
        {
            Assert.That(c.AttentionBias, Is.True);
            Assert.That(c.QkvBias, Is.True);
            Assert.That(c.OProjBias, Is.True);
            Assert.That(c.MlpBias, Is.True);
        });
    }

    [Test]
    public void MissingOptionalFields_TakeHuggingFaceDefaults()
    {
        string json = ConfigFixtures.TinyLlamaWith("num_key_value_heads", null);
        var c = ModelConfig.Parse(json, "x/config.json");
        Assert.Multiple(() =>
        {
            Assert.That(c.NumKeyValueHeads, Is.EqualTo(c.NumAttentionHeads));
            Assert.That(c.HeadDim, Is.EqualTo(64 / 8));
            Assert.That(c.RopeTheta, Is.EqualTo(10000.0));
            Assert.That(c.TieWordEmbeddings, Is.False);
            Assert.That(c.TorchDtype, Is.EqualTo("float32"));
            Assert.That(c.BosTokenId, Is.Null);
            Assert.That(c.EosTokenId, Is.Null);
        });
    }

    [Test]
    public void ModelTypeAlone_ImpliesArchitecture()
    {
        var c = ModelConfig.Parse(ConfigFixtures.TinyLlamaWith("architectures", null), "x/config.json");
        Assert.That(c.Architecture, Is.EqualTo("LlamaForCausalLM"));
    }

    [Test]
    public void RopeParameters_CarryThetaAndLlama3Scaling()
    {
        var c = LoadFixture(ConfigFixtures.Llama32_RopeParameters);
        Assert.Multiple(() =>
        {
            Assert.That(c.RopeTheta, Is.EqualTo(500000.0));
            Assert.That(c.RopeScaling, Is.EqualTo(new RopeScaling("llama3", 32.0, 1.0, 4.0, 8192)));
            Assert.That(c.HeadDim, Is.EqualTo(64));
            Assert.That(c.TorchDtype, Is.EqualTo("bfloat16"));
        });
    }

    [Test]
    public void RopeParameters_DefaultTypeMeansNoScaling()
    {
        string json = ConfigFixtures.TinyLlamaWith("rope_parameters", """{"rope_type": "default", "rope_theta": 1000000.0}""");
        var c = ModelConfig.Parse(json, "x/config.json");
        Assert.Multiple(() =>
        {
            Assert.That(c.RopeScaling, Is.Null);
            Assert.That(c.RopeTheta, Is.EqualTo(1_000_000.0));
        });
    }

    [Test]
    public void RopeScaling_LegacyTypeKey_Linear()
    {
        string json = ConfigFixtures.TinyLlamaWith("rope_scaling", """{"type": "linear", "factor": 4.0}""");
        var c = ModelConfig.Parse(json, "x/config.json");
        Assert.That(c.RopeScaling, Is.EqualTo(new RopeScaling("linear", 4.0)));
    }

    [Test]
    public void HeadDim_WhenGiven_NeedNotDivideHidden()
    {
        // Mistral-Nemo style: 5120 / 32 = 160, but heads are 128 wide.
        string json = ConfigFixtures.TinyLlamaWith("head_dim", "6").Replace("\"hidden_size\": 64", "\"hidden_size\": 60");
        var c = ModelConfig.Parse(json, "x/config.json");
        Assert.Multiple(() =>
        {
            Assert.That(c.HiddenSize, Is.EqualTo(60));
            Assert.That(c.HeadDim, Is.EqualTo(6));
        });
    }

    [Test]
    public void IntegralFloatSizes_AreAccepted()
    {
        var c = ModelConfig.Parse(ConfigFixtures.TinyLlamaWith("hidden_size", "64.0"), "x/config.json");
        Assert.That(c.HiddenSize, Is.EqualTo(64));
    }

    [Test]
    public void UnsupportedModelType_NamesFileTypeAndSupportedList()
    {
        string json = ConfigFixtures.TinyLlamaWith("model_type", "\"gpt2\"").Replace("LlamaForCausalLM", "GPT2LMHeadModel");
        var e = LoadFails(json);
        Assert.That(e.Message, Is.EqualTo($"{ConfigPath}: unsupported model_type 'gpt2' (supported: llama, mistral, qwen2)"));
    }

    [Test]
    public void UnsupportedArchitecture_NamesFileAndArchitecture()
    {
        var e = LoadFails(ConfigFixtures.TinyLlamaWith("architectures", "[\"LlamaForSequenceClassification\"]"));
        Assert.That(e.Message, Is.EqualTo(
            $"{ConfigPath}: unsupported architecture 'LlamaForSequenceClassification' " +
            "(supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)"));
    }

    [Test]
    public void ArchitectureOfAnotherFamily_IsRejected()
    {
        var e = LoadFails(ConfigFixtures.TinyLlamaWith("architectures", "[\"Qwen2ForCausalLM\"]"));
        Assert.That(e.Message, Does.StartWith(ConfigPath + ":").And.Contains("does not match model_type 'llama'"));
    }

    [TestCase("yarn")]
    [TestCase("dynamic")]
    [TestCase("longrope")]
    public void UnsupportedRopeScaling_IsAClearError(string type)
    {
        var e = LoadFails(ConfigFixtures.TinyLlamaWith("rope_scaling", $$"""{"rope_type": "{{type}}", "factor": 4.0}"""));
        Assert.That(e.Message, Is.EqualTo(
            $"{ConfigPath}: unsupported rope scaling rope_scaling.rope_type '{type}' (supported: default, linear, llama3)"));
    }

    [Test]
    public void UnsupportedRopeTypeInRopeParameters_IsAClearError()
    {
        var e = LoadFails(ConfigFixtures.TinyLlamaWith("rope_parameters", """{"rope_type": "yarn", "factor": 4.0, "rope_theta": 10000.0}"""));
        Assert.That(e.Message, Does.StartWith(ConfigPath + ":").And.Contains("rope_parameters.rope_type 'yarn'"));
    }

    [Test]
    public void Llama3ScalingWithoutItsFactors_NamesTheMissingField()
    {
        var e = LoadFails(ConfigFixtures.TinyLlamaWith("rope_scaling", """{"rope_type": "llama3", "factor": 8.0}"""));
        Assert.That(e.Message, Is.EqualTo($"{ConfigPath}: missing required field 'rope_scaling.low_freq_factor'"));
    }

    [TestCase("hidden_size", "0", "hidden_size must be positive (got 0)")]
    [TestCase("intermediate_size", "-1", "intermediate_size must be positive (got -1)")]
    [TestCase("num_hidden_layers", "0", "num_hidden_layers must be positive (got 0)")]
    [TestCase("num_attention_heads", "0", "num_attention_heads must be positive (got 0)")]
    [TestCase("num_key_value_heads", "0", "num_key_value_heads must be positive (got 0)")]
    [TestCase("vocab_size", "0", "vocab_size must be positive (got 0)")]
    [TestCase("max_position_embeddings", "0", "max_position_embeddings must be positive (got 0)")]
    [TestCase("num_attention_heads", "7", "hidden_size 64 is not divisible by num_attention_heads 7 (and no head_dim is given)")]
    [TestCase("num_key_value_heads", "3", "num_attention_heads 8 is not divisible by num_key_value_heads 3")]
    [TestCase("head_dim", "7", "head_dim 7 must be even for rotary embeddings")]
    [TestCase("rms_norm_eps", "0", "rms_norm_eps must be positive (got 0)")]
    [TestCase("hidden_size", null, "missing required field 'hidden_size'")]
    [TestCase("vocab_size", "\"512\"", "field 'vocab_size' must be an integer (got \"512\")")]
    [TestCase("hidden_size", "64.5", "field 'hidden_size' must be an integer (got 64.5)")]
    [TestCase("hidden_act", "\"gelu\"", "unsupported hidden_act 'gelu' (supported: silu)")]
    public void InvalidField_IsReportedWithFileAndField(string field, string? raw, string expected)
    {
        var e = LoadFails(ConfigFixtures.TinyLlamaWith(field, raw));
        Assert.That(e.Message, Is.EqualTo($"{ConfigPath}: {expected}"));
    }

    [Test]
    public void MalformedJson_NamesTheFile()
    {
        var e = LoadFails("{\"model_type\": \"llama\",");
        Assert.That(e.Message, Does.StartWith($"{ConfigPath}: invalid JSON"));
    }

    [Test]
    public void MissingConfigFile_NamesThePath()
    {
        var e = Assert.Throws<RoseException>(() => ModelConfig.Load(_dir))!;
        Assert.That(e.Message, Does.Contain(ConfigPath));
    }
    /// <summary>Which layers attend through a sliding window, as HF's config classes decide it.</summary>
    [Test]
    public void SlidingWindows_FollowEachFamilysRule()
    {
        var mistral = LoadFixture(ConfigFixtures.Mistral_7B);
        var qwenOff = LoadFixture(ConfigFixtures.Qwen2_05B);
        var qwenOn = LoadFixture(ConfigFixtures.Qwen2_05B.Replace("\"use_sliding_window\": false", "\"use_sliding_window\": true")
            .Replace("\"max_window_layers\": 24", "\"max_window_layers\": 20"));
        var llama = LoadFixture(ConfigFixtures.TinyLlamaWith("sliding_window", "16"));
        var typed = LoadFixture(ConfigFixtures.Mistral_7B.Replace("\"sliding_window\": 4096,",
            "\"sliding_window\": 4096, \"layer_types\": [" + string.Join(", ", Enumerable.Range(0, 32).Select(l => l % 2 == 0 ? "\"sliding_attention\"" : "\"full_attention\"")) + "],"));
        Assert.Multiple(() =>
        {
            Assert.That(Enumerable.Range(0, 32).Select(mistral.AttentionWindowOf), Is.All.EqualTo(4096));
            Assert.That(qwenOff.AttentionWindows, Is.Empty);
            Assert.That(Enumerable.Range(0, 24).Select(qwenOn.AttentionWindowOf),
                Is.EqualTo(Enumerable.Range(0, 24).Select(l => l >= 20 ? 131072 : (int?)null)));
            Assert.That(llama.AttentionWindows, Is.Empty, "LLaMA has no sliding window whatever the file says");
            Assert.That(typed.AttentionWindowOf(0), Is.EqualTo(4096));
            Assert.That(typed.AttentionWindowOf(1), Is.Null);
        });
    }

    [TestCase("\"sliding_window\": 4096,", "\"sliding_window\": 0,", "sliding_window must be positive or null (got 0)")]
    [TestCase("\"sliding_window\": 4096,", "\"sliding_window\": 4096, \"layer_types\": [\"full_attention\"],", "layer_types lists 1 layers, num_hidden_layers is 32")]
    [TestCase("\"sliding_window\": 4096,", "\"sliding_window\": 4096, \"layer_types\": \"full_attention\",", "field 'layer_types' must be an array of strings (got \"full_attention\")")]
    public void BadSlidingWindowFields_AreReportedWithTheFile(string find, string replace, string expected)
    {
        var e = LoadFails(ConfigFixtures.Mistral_7B.Replace(find, replace));
        Assert.That(e.Message, Is.EqualTo($"{ConfigPath}: {expected}"));
    }
}
