namespace Rose.Import;

/// <summary>The seven int32 of a version-0 llama2.c checkpoint. A negative vocab size means an
/// unshared classifier follows the weights.</summary>
public sealed record Llama2cHeader(int Dim, int HiddenDim, int Layers, int Heads, int KvHeads, int VocabSize, bool SharedClassifier, int SeqLen)
{
    public const int Bytes = 7 * sizeof(int);
    public int HeadSize => Dim / Heads;
    public int KvDim => KvHeads * HeadSize;

    public static Llama2cHeader Read(BinaryReader reader, string path)
    {
        if (reader.BaseStream.Length < Bytes)
            throw new RoseException($"{path}: too short for a llama2.c header ({reader.BaseStream.Length} bytes)");
        int dim = reader.ReadInt32(), hidden = reader.ReadInt32(), layers = reader.ReadInt32(), heads = reader.ReadInt32(),
            kvHeads = reader.ReadInt32(), vocab = reader.ReadInt32(), seqLen = reader.ReadInt32();
        var header = new Llama2cHeader(dim, hidden, layers, heads, kvHeads, Math.Abs(vocab), vocab > 0, seqLen);
        if (dim <= 0 || hidden <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || vocab == 0 || seqLen <= 0
            || dim % heads != 0 || heads % kvHeads != 0 || header.HeadSize % 2 != 0)
            throw new RoseException($"{path}: not a version-0 llama2.c checkpoint (header dim={dim} hidden_dim={hidden} n_layers={layers} n_heads={heads} n_kv_heads={kvHeads} vocab_size={vocab} seq_len={seqLen})");
        long expected = Bytes + 4L * header.FloatCount();
        if (reader.BaseStream.Length != expected)
            throw new RoseException($"{path}: size {reader.BaseStream.Length} bytes does not match its header (expected {expected})");
        return header;
    }

    /// <summary>Number of fp32 values after the header, RoPE tables and classifier included.</summary>
    public long FloatCount()
    {
        long l = Layers, perLayer = 2L * Dim + (long)Dim * Dim * 2 + 2L * Dim * KvDim + 3L * Dim * HiddenDim;
        long count = (long)VocabSize * Dim + l * perLayer + Dim + (long)SeqLen * HeadSize;
        return SharedClassifier ? count : count + (long)VocabSize * Dim;
    }
}
