using Rose.Models;
using Rose.SafeTensors;
using Rose.Tokenization;

namespace Rose.Modeling;

/// <summary>A HF LLaMA-family checkpoint opened for layer-at-a-time work: nothing is widened to
/// fp32 until a layer (or the head) is asked for, so memory stays bounded by one layer.</summary>
public sealed class LlamaModel : IDisposable
{
    private ITextTokenizer? _tokenizer;

    private LlamaModel(string directory, ModelConfig config, Checkpoint checkpoint)
    {
        Directory = directory;
        Config = config;
        Checkpoint = checkpoint;
        Shape = ModelShape.From(config);
        Rope = new RotaryEmbedding(config.InverseFrequencies());
    }

    public string Directory { get; }
    public ModelConfig Config { get; }
    public Checkpoint Checkpoint { get; }
    public ModelShape Shape { get; }
    public RotaryEmbedding Rope { get; }
    public int LayerCount => Config.NumHiddenLayers;
    public ITextTokenizer Tokenizer => _tokenizer ??= TokenizerLoader.Load(Directory);

    /// <summary>The dtype the reference keeps activations in: the weights' own when 16-bit (HF runs a
    /// bf16/fp16 checkpoint in that dtype), otherwise F32.</summary>
    public DType ActivationDType
    {
        get
        {
            var dtype = Checkpoint.GetInfo(EmbeddingName).DType;
            return dtype is DType.BF16 or DType.F16 ? dtype : DType.F32;
        }
    }

    public const string EmbeddingName = "model.embed_tokens.weight";
    public const string FinalNormName = "model.norm.weight";
    public const string LmHeadName = "lm_head.weight";

    public static LlamaModel Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
            throw new RoseException($"{directory}: model folder not found");
        var config = ModelConfig.Load(directory);
        var checkpoint = Checkpoint.Open(directory);
        try
        {
            var model = new LlamaModel(directory, config, checkpoint);
            model.ValidateShapes();
            return model;
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>Layer i's weights widened to fp32.</summary>
    public DecoderLayerWeights LoadLayer(int layer)
    {
        if (layer < 0 || layer >= LayerCount) throw new ArgumentOutOfRangeException(nameof(layer));
        var linears = new Dictionary<LinearKind, LinearWeight>();
        foreach (var kind in LinearKinds.All)
        {
            var weight = Checkpoint.ReadFloat32(LinearKinds.WeightName(layer, kind));
            string biasName = LinearKinds.BiasName(layer, kind);
            float[]? bias = Checkpoint.Contains(biasName) ? Checkpoint.ReadFloat32(biasName) : null;
            linears[kind] = new LinearWeight(weight, Shape.OutputsOf(kind), Shape.InputsOf(kind), bias);
        }
        return new DecoderLayerWeights(layer,
            Checkpoint.ReadFloat32($"model.layers.{layer}.input_layernorm.weight"),
            Checkpoint.ReadFloat32($"model.layers.{layer}.post_attention_layernorm.weight"),
            linears) { AttentionWindow = Config.AttentionWindowOf(layer) };
    }

    /// <summary>hidden[t, :] = embed_tokens[tokens[t], :], reading only the rows needed.</summary>
    public void Embed(ReadOnlySpan<int> tokens, Span<float> hidden)
    {
        int dim = Shape.Hidden;
        var info = Checkpoint.GetInfo(EmbeddingName);
        var file = Checkpoint.FileFor(EmbeddingName);
        int rowBytes = dim * info.DType.ElementSize();
        for (int t = 0; t < tokens.Length; t++)
        {
            int id = tokens[t];
            if ((uint)id >= (uint)Config.VocabSize)
                throw new RoseException($"token id {id} is outside the vocabulary of {Config.VocabSize} ({Directory})");
            var bytes = file.GetBytes(EmbeddingName, (long)id * rowBytes, rowBytes);
            FloatConversion.ToSingle(info.DType, bytes, hidden.Slice(t * dim, dim));
        }
    }

    /// <summary>Final norm and the output projection (tied to the embeddings when the config says so
    /// or the checkpoint has no lm_head).</summary>
    public LanguageModelHead LoadHead()
    {
        string headName = !Config.TieWordEmbeddings && Checkpoint.Contains(LmHeadName) ? LmHeadName : EmbeddingName;
        return new LanguageModelHead(Checkpoint.ReadFloat32(FinalNormName), Checkpoint.ReadFloat32(headName),
            Config.VocabSize, Shape.Hidden, Shape.RmsNormEps, ActivationDType);
    }

    private void ValidateShapes()
    {
        Expect(EmbeddingName, Config.VocabSize, Shape.Hidden);
        Expect(FinalNormName, Shape.Hidden);
        for (int layer = 0; layer < LayerCount; layer++)
            foreach (var kind in LinearKinds.All)
                Expect(LinearKinds.WeightName(layer, kind), Shape.OutputsOf(kind), Shape.InputsOf(kind));
    }

    private void Expect(string name, params long[] shape)
    {
        if (!Checkpoint.Contains(name))
            throw new RoseException($"{Directory}: tensor '{name}' is missing from the checkpoint");
        var actual = Checkpoint.GetInfo(name).Shape;
        if (!actual.SequenceEqual(shape))
            throw new RoseException($"{Directory}: tensor '{name}' has shape [{string.Join(", ", actual)}], config.json implies [{string.Join(", ", shape)}]");
    }

    public void Dispose() => Checkpoint.Dispose();
}
