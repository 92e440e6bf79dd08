namespace Rose.Modeling;

/// <summary>One LLaMA decoder layer over one sequence, in place on the residual stream
/// (tokens × hidden), exactly as HF computes it:
/// h = RMSNorm(x); x += o_proj(Attn(RoPE(q_proj h), RoPE(k_proj h), v_proj h));
/// h = RMSNorm(x); x += down_proj(silu(gate_proj h) ⊙ up_proj h).
/// Owns its scratch buffers, so one instance serves one thread.</summary>
public sealed class DecoderLayerForward
{
    private readonly ModelShape _shape;
    private readonly RotaryEmbedding _rope;
    private float[] _normed = [], _q = [], _k = [], _v = [], _attn = [], _proj = [], _gate = [], _up = [];
    private int _capacity;

    public DecoderLayerForward(ModelShape shape, RotaryEmbedding rope)
    {
        _shape = shape;
        _rope = rope;
    }

    /// <summary>False when the caller already runs several sequences in parallel: nesting
    /// parallel loops on top of that only makes the thread pool stall.</summary>
    public bool ParallelInside { get; init; } = true;

    public void Run(DecoderLayerWeights layer, Span<float> hidden, int tokens, ILinearInputObserver? observer = null)
    {
        var s = _shape;
        if (hidden.Length != tokens * s.Hidden) throw new ArgumentException($"hidden has {hidden.Length} values, expected {tokens}×{s.Hidden}");
        Reserve(tokens);
        var normed = _normed.AsSpan(0, tokens * s.Hidden);
        var q = _q.AsSpan(0, tokens * s.QDim);
        var k = _k.AsSpan(0, tokens * s.KvDim);
        var v = _v.AsSpan(0, tokens * s.KvDim);
        var attn = _attn.AsSpan(0, tokens * s.QDim);
        var proj = _proj.AsSpan(0, tokens * s.Hidden);
        var gate = _gate.AsSpan(0, tokens * s.Intermediate);
        var up = _up.AsSpan(0, tokens * s.Intermediate);

        CpuMath.RmsNorm(hidden, layer.InputNorm, normed, tokens, s.Hidden, s.RmsNormEps);
        observer?.Observe(LinearInputGroup.AttentionInput, normed, tokens, s.Hidden);
        layer[LinearKind.Q].Apply(normed, q, tokens, ParallelInside);
        layer[LinearKind.K].Apply(normed, k, tokens, ParallelInside);
        layer[LinearKind.V].Apply(normed, v, tokens, ParallelInside);
        _rope.Apply(q, tokens, s.Heads);
        _rope.Apply(k, tokens, s.KvHeads);
        CausalAttention.Forward(q, k, v, attn, tokens, s.Heads, s.KvHeads, s.HeadDim, ParallelInside);
        observer?.Observe(LinearInputGroup.AttentionOutput, attn, tokens, s.QDim);
        layer[LinearKind.O].Apply(attn, proj, tokens, ParallelInside);
        AddInPlace(hidden, proj);

        CpuMath.RmsNorm(hidden, layer.PostAttentionNorm, normed, tokens, s.Hidden, s.RmsNormEps);
        observer?.Observe(LinearInputGroup.MlpInput, normed, tokens, s.Hidden);
        layer[LinearKind.Gate].Apply(normed, gate, tokens, ParallelInside);
        layer[LinearKind.Up].Apply(normed, up, tokens, ParallelInside);
        CpuMath.SiluMultiply(gate, up);
        observer?.Observe(LinearInputGroup.MlpHidden, gate, tokens, s.Intermediate);
        layer[LinearKind.Down].Apply(gate, proj, tokens, ParallelInside);
        AddInPlace(hidden, proj);
    }

    private static void AddInPlace(Span<float> x, ReadOnlySpan<float> y) =>
        System.Numerics.Tensors.TensorPrimitives.Add(x, y, x);

    private void Reserve(int tokens)
    {
        if (tokens <= _capacity) return;
        var s = _shape;
        _normed = new float[tokens * s.Hidden];
        _q = new float[tokens * s.QDim];
        _k = new float[tokens * s.KvDim];
        _v = new float[tokens * s.KvDim];
        _attn = new float[tokens * s.QDim];
        _proj = new float[tokens * s.Hidden];
        _gate = new float[tokens * s.Intermediate];
        _up = new float[tokens * s.Intermediate];
        _capacity = tokens;
    }
}
