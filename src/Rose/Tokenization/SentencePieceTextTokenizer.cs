using Microsoft.ML.Tokenizers;

namespace Rose.Tokenization;

/// <summary>A SentencePiece <c>tokenizer.model</c> (LLaMA-2 / Mistral style) through
/// Microsoft.ML.Tokenizers, which reproduces SentencePiece's ids.</summary>
public sealed class SentencePieceTextTokenizer : ITextTokenizer
{
    private readonly LlamaTokenizer _tokenizer;
    private readonly bool _addsEos;

    private SentencePieceTextTokenizer(LlamaTokenizer tokenizer, bool addsBos, bool addsEos)
    {
        _tokenizer = tokenizer;
        AddsBos = addsBos;
        _addsEos = addsEos;
        VocabSize = tokenizer.Vocabulary.Values.Max() + 1;
    }

    /// <summary>Loads <paramref name="modelPath"/>. transformers' LLaMA tokenizer adds BOS and no
    /// EOS unless tokenizer_config.json says otherwise; the flags here carry that decision.</summary>
    public static SentencePieceTextTokenizer Load(string modelPath, bool addsBos = true, bool addsEos = false)
    {
        try
        {
            using var stream = File.OpenRead(modelPath);
            var tokenizer = LlamaTokenizer.Create(stream, addBeginOfSentence: addsBos, addEndOfSentence: false);
            return new SentencePieceTextTokenizer(tokenizer, addsBos, addsEos);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RoseException($"{modelPath}: cannot read tokenizer: {e.Message}", e);
        }
        catch (Exception e) when (e is not RoseException and not OutOfMemoryException)
        {
            throw new RoseException($"{modelPath}: not a valid SentencePiece model: {e.Message}", e);
        }
    }

    public int? BosId => _tokenizer.BeginningOfSentenceId;

    public bool AddsBos { get; }

    public int VocabSize { get; }

    public int[] Encode(string text, bool addBos)
    {
        bool normalize = true;
        // Microsoft.ML.Tokenizers 2.0.1 returns no ids at all (not even BOS) for a one-character
        // text such as "x"; normalizing it ourselves ("▁x") and skipping its normalizer gives
        // SentencePiece's answer. Whitespace is left to the library, which handles it.
        if (text.Length == 1 && !char.IsWhiteSpace(text[0]))
        {
            text = _tokenizer.AddDummyPrefix ? "\u2581" + text : text;
            normalize = false;
        }
        var ids = _tokenizer.EncodeToIds(
            text,
            addBeginningOfSentence: addBos && AddsBos,
            addEndOfSentence: addBos && _addsEos,
            considerPreTokenization: true,
            considerNormalization: normalize);
        return [.. ids];
    }

    public string Decode(IReadOnlyList<int> ids) => _tokenizer.Decode(ids, considerSpecialTokens: false);
}
