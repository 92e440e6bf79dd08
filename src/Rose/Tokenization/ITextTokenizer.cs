namespace Rose.Tokenization;

/// <summary>Text ↔ token ids for a model, with Hugging Face transformers' BOS conventions.</summary>
public interface ITextTokenizer
{
    /// <summary>Token ids of <paramref name="text"/>. With <paramref name="addBos"/> the result is
    /// what transformers' <c>tokenizer(text)</c> gives (BOS only when <see cref="AddsBos"/>, plus any
    /// end token the tokenizer's policy appends); without it, the bare ids with no special tokens.</summary>
    int[] Encode(string text, bool addBos);

    /// <summary>Text of <paramref name="ids"/>, special tokens (BOS/EOS) left out.</summary>
    string Decode(IReadOnlyList<int> ids);

    /// <summary>The beginning-of-sequence token, if the tokenizer has one.</summary>
    int? BosId { get; }

    /// <summary>Whether <c>Encode(text, addBos: true)</c> starts with <see cref="BosId"/>.</summary>
    bool AddsBos { get; }

    /// <summary>One past the largest token id the tokenizer can produce.</summary>
    int VocabSize { get; }
}
