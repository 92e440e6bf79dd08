using NUnit.Framework;
using Rose.Tokenization;

namespace Rose.Tests.Tokenization;

[TestFixture]
public class HuggingFaceTokenizerTests
{
    // A LLaMA-style (SentencePiece-converted) tokenizer.json small enough to run BPE by hand:
    // the normalizer prepends "▁" and turns spaces into "▁"; there is no pre-tokenizer, so the
    // whole normalized text is one word; merges apply in rank order a+b, ▁+ab, ▁+c.
    private const string Vocab =
        """{"<unk>": 0, "<s>": 1, "</s>": 2, "▁": 3, "a": 4, "b": 5, "c": 6, "ab": 7, "▁ab": 8, "▁c": 9}""";

    private const string BosTemplate = """
        {
          "type": "TemplateProcessing",
          "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
          "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                   {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
          "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}
        }
        """;

    private static string TokenizerJson(string postProcessor) => $$"""
        {
          "version": "1.0",
          "truncation": null,
          "padding": null,
          "added_tokens": [
            {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
          ],
          "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}
          ]},
          "pre_tokenizer": null,
          "post_processor": {{postProcessor}},
          "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}
          ]},
          "model": {
            "type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": false, "ignore_merges": false,
            "vocab": {{Vocab}},
            "merges": ["a b", "▁ ab", "▁ c"]
          }
        }
        """;

    private string _dir = "";

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "rose-hf-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private ITextTokenizer Load(string postProcessor, string? tokenizerConfig = null)
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), TokenizerJson(postProcessor));
        if (tokenizerConfig is not null)
            File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), tokenizerConfig);
        return TokenizerLoader.Load(_dir);
    }

    [Test]
    public void TemplateBos_IsAddedExactlyOnce()
    {
        var t = Load(BosTemplate);
        Assert.Multiple(() =>
        {
            Assert.That(t, Is.InstanceOf<HuggingFaceTextTokenizer>());
            Assert.That(t.AddsBos, Is.True);
            Assert.That(t.BosId, Is.EqualTo(1));
            Assert.That(t.VocabSize, Is.EqualTo(10));
            // "ab c" → "▁ab▁c" → ▁ a b ▁ c → ▁ ab ▁ c → ▁ab ▁ c → ▁ab ▁c
            Assert.That(t.Encode("ab c", addBos: true), Is.EqualTo(new[] { 1, 8, 9 }));
            Assert.That(t.Encode("ab c", addBos: false), Is.EqualTo(new[] { 8, 9 }));
            // "abab" → "▁abab" → ▁ ab ab → ▁ab ab
            Assert.That(t.Encode("abab", addBos: true), Is.EqualTo(new[] { 1, 8, 7 }));
            // transformers gives just [BOS] for empty text.
            Assert.That(t.Encode("", addBos: true), Is.EqualTo(new[] { 1 }));
        });
    }

    [Test]
    public void Decode_SkipsSpecialTokensAndUndoesTheNormalizer()
    {
        var t = Load(BosTemplate);
        Assert.Multiple(() =>
        {
            Assert.That(t.Decode([1, 8, 9]), Is.EqualTo("ab c"));
            Assert.That(t.Decode(t.Encode("c ab abab", addBos: true)), Is.EqualTo("c ab abab"));
        });
    }

    [Test]
    public void Llama3StyleSequenceProcessor_FindsTheTemplateInside()
    {
        string processor = $$"""
            {"type": "Sequence", "processors": [
              {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
              {{BosTemplate}}
            ]}
            """;
        var t = Load(processor);
        Assert.That(t.Encode("c", addBos: true), Is.EqualTo(new[] { 1, 9 }));
    }

    [Test]
    public void NoPostProcessor_MeansNoBos_LikeQwen2()
    {
        var t = Load("null");
        Assert.Multiple(() =>
        {
            Assert.That(t.AddsBos, Is.False);
            Assert.That(t.BosId, Is.Null);
            Assert.That(t.Encode("ab c", addBos: true), Is.EqualTo(new[] { 8, 9 }));
        });
    }

    [Test]
    public void TokenizerConfigAddBosFalse_OverridesTheTemplate()
    {
        var t = Load(BosTemplate, """{"add_bos_token": false, "bos_token": "<s>"}""");
        Assert.Multiple(() =>
        {
            Assert.That(t.AddsBos, Is.False);
            Assert.That(t.BosId, Is.EqualTo(1));
            Assert.That(t.Encode("ab c", addBos: true), Is.EqualTo(new[] { 8, 9 }));
        });
    }

    [Test]
    public void TokenizerConfigAddBosTrue_AddsBosWhenTheTemplateDoesNot()
    {
        var t = Load("null", """{"add_bos_token": true, "bos_token": {"__type": "AddedToken", "content": "<s>"}}""");
        Assert.Multiple(() =>
        {
            Assert.That(t.AddsBos, Is.True);
            Assert.That(t.Encode("ab c", addBos: true), Is.EqualTo(new[] { 1, 8, 9 }));
        });
    }

    [Test]
    public void TokenizerConfigAddBosTrue_WithTemplateBos_DoesNotDouble()
    {
        var t = Load(BosTemplate, """{"add_bos_token": true, "add_eos_token": false, "bos_token": "<s>", "eos_token": "</s>"}""");
        Assert.That(t.Encode("ab c", addBos: true), Is.EqualTo(new[] { 1, 8, 9 }));
    }

    [Test]
    public void TokenizerConfigAddEosTrue_AppendsEosWithSpecialTokensOnly()
    {
        var t = Load(BosTemplate, """{"add_eos_token": true, "eos_token": "</s>"}""");
        Assert.Multiple(() =>
        {
            Assert.That(t.Encode("ab c", addBos: true), Is.EqualTo(new[] { 1, 8, 9, 2 }));
            Assert.That(t.Encode("ab c", addBos: false), Is.EqualTo(new[] { 8, 9 }));
        });
    }

    [Test]
    public void TokenizerJson_IsPreferredOverTokenizerModel()
    {
        SampleData.RequireFile(SampleData.Tok512Model);
        File.Copy(SampleData.Tok512Model, Path.Combine(_dir, "tokenizer.model"));
        var t = Load(BosTemplate);
        Assert.That(t, Is.InstanceOf<HuggingFaceTextTokenizer>());
    }

    [Test]
    public void UnknownBosTokenInConfig_NamesTheFile()
    {
        var e = Assert.Throws<RoseException>(() => Load(BosTemplate, """{"bos_token": "<|begin_of_text|>"}"""))!;
        Assert.That(e.Message, Does.StartWith(Path.Combine(_dir, "tokenizer.json") + ":").And.Contains("<|begin_of_text|>"));
    }

    [Test]
    public void MalformedTokenizerJson_NamesTheFile()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), "{\"model\": ");
        var e = Assert.Throws<RoseException>(() => TokenizerLoader.Load(_dir))!;
        Assert.That(e.Message, Does.StartWith(Path.Combine(_dir, "tokenizer.json") + ": invalid JSON"));
    }
}
