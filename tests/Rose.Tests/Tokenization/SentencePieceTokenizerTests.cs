using NUnit.Framework;
using Rose.Tokenization;

namespace Rose.Tests.Tokenization;

[TestFixture]
public class SentencePieceTokenizerTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp()
    {
        SampleData.RequireFile(SampleData.Tok512Model);
        _dir = Path.Combine(Path.GetTempPath(), "rose-sp-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        File.Copy(SampleData.Tok512Model, Path.Combine(_dir, "tokenizer.model"));
    }

    [TearDown]
    public void TearDown()
    {
        if (_dir.Length > 0)
            Directory.Delete(_dir, recursive: true);
    }

    [Test]
    public void WholeEvalText_WithBos_Gives98593Ids()
    {
        SampleData.RequireFile(SampleData.EvalText);
        var tokenizer = TokenizerLoader.Load(_dir);
        var ids = tokenizer.Encode(File.ReadAllText(SampleData.EvalText), addBos: true);
        Assert.Multiple(() =>
        {
            Assert.That(ids, Has.Length.EqualTo(98_593));
            Assert.That(ids[0], Is.EqualTo(1));
            Assert.That(ids.Skip(1), Has.None.EqualTo(1), "BOS only at the start");
            Assert.That(ids, Has.All.InRange(0, tokenizer.VocabSize - 1));
        });
    }

    [Test]
    public void Tok512_DescribesItsVocabulary()
    {
        var tokenizer = TokenizerLoader.Load(_dir);
        Assert.Multiple(() =>
        {
            Assert.That(tokenizer, Is.InstanceOf<SentencePieceTextTokenizer>());
            Assert.That(tokenizer.VocabSize, Is.EqualTo(512));
            Assert.That(tokenizer.BosId, Is.EqualTo(1));
            Assert.That(tokenizer.AddsBos, Is.True, "LLaMA SentencePiece tokenizers add BOS by default");
        });
    }

    [TestCase("Once upon a time, there was a little girl named Lily.")]
    [TestCase("She said, \"Look at the big red ball!\" and ran to it.")]
    [TestCase("x")]
    public void EncodeDecode_RoundTrips_WithBosOnlyWhenAsked(string text)
    {
        var tokenizer = TokenizerLoader.Load(_dir);
        var withBos = tokenizer.Encode(text, addBos: true);
        var without = tokenizer.Encode(text, addBos: false);
        Assert.Multiple(() =>
        {
            Assert.That(withBos[0], Is.EqualTo(1));
            Assert.That(withBos.Skip(1), Is.EqualTo(without), "BOS is the only difference");
            Assert.That(without, Has.None.EqualTo(1));
            Assert.That(tokenizer.Decode(without), Is.EqualTo(text));
            Assert.That(tokenizer.Decode(withBos), Is.EqualTo(text), "decoding drops BOS");
        });
    }

    [TestCase("x")]
    [TestCase("a")]
    [TestCase("中")]
    public void SingleCharacter_EncodesLikeTheSameCharacterInsideLongerText(string ch)
    {
        // SentencePiece encodes "c" as the pieces of "▁c"; appending " the" (a separate word)
        // must only add that word's pieces, which pins down the single-character answer.
        var tokenizer = TokenizerLoader.Load(_dir);
        var alone = tokenizer.Encode(ch, addBos: true);
        var withWord = tokenizer.Encode(ch + " the", addBos: true);
        var word = tokenizer.Encode("the", addBos: false);
        Assert.Multiple(() =>
        {
            Assert.That(alone, Has.Length.GreaterThan(1));
            Assert.That(alone.Concat(word).ToArray(), Is.EqualTo(withWord));
            Assert.That(tokenizer.Decode(alone), Is.EqualTo(ch));
        });
    }

    [Test]
    public void EncodingIsConcatenativeAtWordBoundaries()
    {
        // SentencePiece marks a word start with "▁", so two sentences encoded apart (the second
        // with its leading space as the dummy prefix) equal the whole sentence encoded at once.
        var tokenizer = TokenizerLoader.Load(_dir);
        var a = tokenizer.Encode("The cat sat.", addBos: false);
        var b = tokenizer.Encode("The dog ran.", addBos: false);
        var ab = tokenizer.Encode("The cat sat. The dog ran.", addBos: false);
        Assert.That(ab, Is.EqualTo(a.Concat(b).ToArray()));
    }

    [Test]
    public void TokenizerConfig_AddBosFalse_TurnsBosOff()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), """{"add_bos_token": false, "add_eos_token": false}""");
        var tokenizer = TokenizerLoader.Load(_dir);
        var ids = tokenizer.Encode("Once upon a time", addBos: true);
        Assert.Multiple(() =>
        {
            Assert.That(tokenizer.AddsBos, Is.False);
            Assert.That(tokenizer.BosId, Is.EqualTo(1));
            Assert.That(ids, Is.EqualTo(tokenizer.Encode("Once upon a time", addBos: false)));
        });
    }

    [Test]
    public void TokenizerConfig_AddEosTrue_AppendsEosOnlyWithSpecialTokens()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), """{"add_bos_token": true, "add_eos_token": true}""");
        var tokenizer = TokenizerLoader.Load(_dir);
        var bare = tokenizer.Encode("Once upon a time", addBos: false);
        var full = tokenizer.Encode("Once upon a time", addBos: true);
        Assert.That(full, Is.EqualTo(new[] { 1 }.Concat(bare).Append(2).ToArray()));
    }

    [Test]
    public void NoTokenizerFiles_NamesTheFolder()
    {
        File.Delete(Path.Combine(_dir, "tokenizer.model"));
        var e = Assert.Throws<RoseException>(() => TokenizerLoader.Load(_dir))!;
        Assert.That(e.Message, Does.StartWith(_dir + ":").And.Contains("tokenizer.json").And.Contains("tokenizer.model"));
    }
}
