namespace Rose.Tokenization;

/// <summary>Picks a model folder's tokenizer the way transformers does: the fast
/// <c>tokenizer.json</c> when present, else the SentencePiece <c>tokenizer.model</c>.</summary>
public static class TokenizerLoader
{
    public static ITextTokenizer Load(string modelDir)
    {
        var config = TokenizerConfig.Load(modelDir);

        string json = Path.Combine(modelDir, "tokenizer.json");
        if (File.Exists(json))
            return HuggingFaceTextTokenizer.Load(json, config);

        string model = Path.Combine(modelDir, "tokenizer.model");
        if (File.Exists(model))
            // transformers' LlamaTokenizer defaults: BOS yes, EOS no.
            return SentencePieceTextTokenizer.Load(model, config.AddBosToken ?? true, config.AddEosToken ?? false);

        throw new RoseException($"{modelDir}: no tokenizer.json or tokenizer.model found");
    }
}
