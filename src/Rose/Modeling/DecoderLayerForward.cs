using Rose.SafeTensors;

namespace Rose.Modeling;

/// <summary>One LLaMA decoder layer over one sequence, in place on the residual stream
/// (tokens × hidden), exactly as HF computes it:
/// h = RMSNorm(x); x += o_proj(Attn(RoPE(q_proj h), RoPE(k_proj h), v_proj h)) (Attn windowed where the layer is);
/// h = RMSNorm(x); x += down_proj(silu(gate_proj h) ⊙ up_proj h).
/// Math is fp32; with a 16-bit <see cref="Rounding"/> every value the reference holds as a tensor of
/// the model's dtype is rounded to it, as the CUDA forward does: norm outputs, every projection's
/// output, each step of RoPE, the attention output, each step of SwiGLU, the residual stream.
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

    /// <summary>The model's activation dtype (see <see cref="LlamaModel.ActivationDType"/>); F32 rounds nothing.</summary>
    public DType Rounding { get; init; } = DType.F32;

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

        var r = Rounding;
        CpuMath.RmsNorm(hidden, layer.InputNorm, normed, tokens, s.Hidden, s.RmsNormEps, r, ParallelInside);
        observer?.Observe(LinearInputGroup.AttentionInput, normed, tokens, s.Hidden);
        layer[LinearKind.Q].Apply(normed, q, tokens, ParallelInside);
        layer[LinearKind.K].Apply(normed, k, tokens, ParallelInside);
        layer[LinearKind.V].Apply(normed, v, tokens, ParallelInside);
        FloatRounding.RoundInPlace(r, q);
        FloatRounding.RoundInPlace(r, k);
        FloatRounding.RoundInPlace(r, v);
        _rope.Apply(q, tokens, s.Heads, r, ParallelInside);
        _rope.Apply(k, tokens, s.KvHeads, r, ParallelInside);
        CausalAttention.Forward(q, k, v, attn, tokens, s.Heads, s.KvHeads, s.HeadDim, ParallelInside, layer.AttentionWindow);
        FloatRounding.RoundInPlace(r, attn);
        observer?.Observe(LinearInputGroup.AttentionOutput, attn, tokens, s.QDim);
        layer[LinearKind.O].Apply(attn, proj, tokens, ParallelInside);
        AddResidual(hidden, proj, r);

        CpuMath.RmsNorm(hidden, layer.PostAttentionNorm, normed, tokens, s.Hidden, s.RmsNormEps, r, ParallelInside);
        observer?.Observe(LinearInputGroup.MlpInput, normed, tokens, s.Hidden);
        layer[LinearKind.Gate].Apply(normed, gate, tokens, ParallelInside);
        layer[LinearKind.Up].Apply(normed, up, tokens, ParallelInside);
        CpuMath.SiluMultiply(gate, up, r, ParallelInside);
        observer?.Observe(LinearInputGroup.MlpHidden, gate, tokens, s.Intermediate);
        layer[LinearKind.Down].Apply(gate, proj, tokens, ParallelInside);
        AddResidual(hidden, proj, r);
    }

    /// <summary>x = round(x + round(delta)): the projection is a tensor of the model's dtype before the add.</summary>
    private static void AddResidual(Span<float> x, Span<float> delta, DType rounding)
    {
        FloatRounding.RoundInPlace(rounding, delta);
        System.Numerics.Tensors.TensorPrimitives.Add(x, delta, x);
        FloatRounding.RoundInPlace(rounding, x);
    }

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
