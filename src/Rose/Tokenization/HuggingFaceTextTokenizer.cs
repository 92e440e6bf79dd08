using NativeTokenizer = Tokenizers.DotNet.Tokenizer;

namespace Rose.Tokenization;

/// <summary>A Hugging Face <c>tokenizer.json</c> run by the Rust tokenizers library (through
/// Tokenizers.DotNet). The post-processor is removed before loading and its special tokens are
/// added here, so the BOS policy of tokenizer_config.json can override it exactly as
/// transformers does and BOS is never doubled.</summary>
public sealed class HuggingFaceTextTokenizer : ITextTokenizer, IDisposable
{
    private readonly NativeTokenizer _native;
    private readonly int[] _prefix;
    private readonly int[] _suffix;

    private HuggingFaceTextTokenizer(NativeTokenizer native, int[] prefix, int[] suffix, int? bosId, int vocabSize)
    {
        _native = native;
        _prefix = prefix;
        _suffix = suffix;
        BosId = bosId;
        VocabSize = vocabSize;
    }

    /// <summary>Loads <paramref name="tokenizerJsonPath"/>; <paramref name="modelDir"/>'s
    /// tokenizer_config.json (if any) decides BOS/EOS when it states add_bos_token/add_eos_token,
    /// otherwise the file's post-processor does.</summary>
    public static HuggingFaceTextTokenizer Load(string tokenizerJsonPath) =>
        Load(tokenizerJsonPath, TokenizerConfig.Load(Path.GetDirectoryName(Path.GetFullPath(tokenizerJsonPath))!));

    internal static HuggingFaceTextTokenizer Load(string path, TokenizerConfig config)
    {
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RoseException($"{path}: cannot read tokenizer: {e.Message}", e);
        }
        var spec = TokenizerJsonSpec.Parse(json, path);

        int? bosId = ResolveToken(config.BosToken, spec, path, "bos_token")
            ?? (spec.TemplatePrefix.Length > 0 ? spec.TemplatePrefix[0] : null);
        int[] prefix = config.AddBosToken switch
        {
            false => [],
            true when spec.TemplatePrefix.Length > 0 => spec.TemplatePrefix,
            true => [bosId ?? throw new RoseException($"{path}: add_bos_token is true but the tokenizer has no bos_token")],
            null => spec.TemplatePrefix,
        };
        int? eosId = ResolveToken(config.EosToken, spec, path, "eos_token");
        int[] suffix = config.AddEosToken switch
        {
            false => [],
            true when spec.TemplateSuffix.Length > 0 => spec.TemplateSuffix,
            true => [eosId ?? throw new RoseException($"{path}: add_eos_token is true but the tokenizer has no eos_token")],
            null => spec.TemplateSuffix,
        };

        return new HuggingFaceTextTokenizer(LoadNative(spec.StrippedJson, path), prefix, suffix, bosId, spec.VocabSize);
    }

    private static int? ResolveToken(string? token, TokenizerJsonSpec spec, string path, string field)
    {
        if (token is null)
            return null;
        return spec.IdOf(token)
            ?? throw new RoseException($"{path}: {field} '{token}' from tokenizer_config.json is not in the vocabulary");
    }

    // The native library only loads from a file, so the post-processor-free copy goes through a
    // temporary file that is deleted once parsed.
    private static NativeTokenizer LoadNative(string json, string path)
    {
        string temp = Path.Combine(Path.GetTempPath(), $"rose-tokenizer-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(temp, json);
            return new NativeTokenizer(temp);
        }
        catch (Exception e) when (e is Tokenizers.DotNet.TokenizerException or DllNotFoundException or BadImageFormatException or EntryPointNotFoundException)
        {
            throw new RoseException($"{path}: the tokenizers library cannot load it: {e.Message}", e);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    public int? BosId { get; }

    public bool AddsBos => _prefix.Length > 0;

    public int VocabSize { get; }

    public int[] Encode(string text, bool addBos)
    {
        uint[] body = _native.Encode(text);
        int[] prefix = addBos ? _prefix : [];
        int[] suffix = addBos ? _suffix : [];
        var ids = new int[prefix.Length + body.Length + suffix.Length];
        prefix.CopyTo(ids, 0);
        for (int i = 0; i < body.Length; i++)
            ids[prefix.Length + i] = checked((int)body[i]);
        suffix.CopyTo(ids, prefix.Length + body.Length);
        return ids;
    }

    public string Decode(IReadOnlyList<int> ids)
    {
        var raw = new uint[ids.Count];
        for (int i = 0; i < raw.Length; i++)
            raw[i] = checked((uint)ids[i]);
        return _native.Decode(raw);
    }

    public void Dispose() => _native.Dispose();
}
