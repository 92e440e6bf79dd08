using Rose.Modeling;
using Rose.Native;
using Rose.SafeTensors;

namespace Rose.Cuda.Forward;

/// <summary>Receives a linear group's input on the device: (group, address, rows, cols).</summary>
public delegate void LinearInputSink(LinearInputGroup group, CUdeviceptr input, int rows, int cols);

/// <summary>One LLaMA decoder layer on the device, in place on the residual stream
/// (batch·seqLen × hidden) stored in the compute dtype, the model's own (as the reference
/// implementation keeps its hidden states), the same computation as <see cref="DecoderLayerForward"/>:
/// h = RMSNorm(x); x += o_proj(Attn(RoPE(q_proj h), RoPE(k_proj h), v_proj h));
/// h = RMSNorm(x); x += down_proj(silu(gate_proj h) ⊙ up_proj h).
/// GEMM inputs and the residual stream are in the compute dtype, GEMM outputs and all softmax/norm
/// math fp32; every value that is a tensor of the model's dtype in the reference (norm outputs, every
/// projection's output, each step of RoPE and SwiGLU, the attention output, the stream) is rounded to
/// it. Owns its scratch buffers (grown on demand), so one instance per thread.</summary>
public sealed class CudaLayerForward : IDisposable
{
    private readonly ForwardKernels _kernels;
    private readonly CublasHandle _blas;
    private readonly DeviceBuffer<float> _invFreq;
    private DeviceBuffer<byte>? _normed, _attn, _act;
    private DeviceBuffer<float>? _q, _k, _v, _proj, _gate, _up;
    private int _capacity;

    public CudaLayerForward(CudaContext context, ForwardKernels kernels, CublasHandle blas, ModelShape shape,
        float[] inverseFrequencies, DType dtype)
    {
        if (inverseFrequencies.Length * 2 != shape.HeadDim)
            throw new ArgumentException($"{inverseFrequencies.Length} inverse frequencies do not fit head_dim {shape.HeadDim}");
        ForwardKernels.Suffix(dtype);
        Context = context;
        _kernels = kernels;
        _blas = blas;
        Shape = shape;
        DType = dtype;
        _invFreq = DeviceBuffer<float>.FromHost(context, inverseFrequencies);
    }

    public CudaContext Context { get; }
    public ModelShape Shape { get; }
    public DType DType { get; }

    /// <summary>Runs the layer over <paramref name="batch"/> sequences of <paramref name="seqLen"/>
    /// tokens stored back to back in <paramref name="hidden"/> (positions restart at each sequence).</summary>
    public void Run(CudaLayerWeights w, DeviceBuffer<byte> hidden, int batch, int seqLen)
    {
        if (hidden.Length < (long)batch * seqLen * Shape.Hidden * DType.ElementSize())
            throw new ArgumentException($"hidden holds {hidden.Length} bytes, fewer than {batch * seqLen}×{Shape.Hidden} {DType.ToSafeTensorsString()} values");
        Run(w, hidden.Pointer, batch, seqLen);
    }

    /// <summary>The same over a hidden state (in <see cref="DType"/>) at a raw device address (a slice of a larger buffer).
    /// <paramref name="observer"/> sees every linear group's input right after it is computed:
    /// (group, address, rows, cols), rows = batch·seqLen, in the compute dtype <see cref="DType"/>.</summary>
    /// <param name="inputsOnly">With an observer: stop once the last linear's input has been observed
    /// (x is then left half-updated).</param>
    public void Run(CudaLayerWeights w, CUdeviceptr x, int batch, int seqLen, LinearInputSink? observer = null, bool inputsOnly = false)
    {
        var s = Shape;
        int rows = checked(batch * seqLen);
        Reserve(rows);

        _kernels.RmsNorm(DType, _normed!.Pointer, x, w.InputNorm.Pointer, rows, s.Hidden, s.RmsNormEps);
        observer?.Invoke(LinearInputGroup.AttentionInput, _normed.Pointer, rows, s.Hidden);
        Project(w[LinearKind.Q], _normed.Pointer, _q!, rows);
        Project(w[LinearKind.K], _normed.Pointer, _k!, rows);
        Project(w[LinearKind.V], _normed.Pointer, _v!, rows);
        // The projections are tensors of the model's dtype in the reference, and RoPE runs in it.
        _kernels.Round(DType, _q!.Pointer, (long)rows * s.QDim);
        _kernels.Round(DType, _k!.Pointer, (long)rows * s.KvDim);
        _kernels.Round(DType, _v!.Pointer, (long)rows * s.KvDim);
        _kernels.Rope(DType, _q.Pointer, _invFreq.Pointer, rows, s.Heads, s.HeadDim, seqLen);
        _kernels.Rope(DType, _k.Pointer, _invFreq.Pointer, rows, s.KvHeads, s.HeadDim, seqLen);
        _kernels.Attention(DType, _attn!.Pointer, _q.Pointer, _k.Pointer, _v!.Pointer, batch, seqLen, s.Heads, s.KvHeads, s.HeadDim,
            window: w.AttentionWindow);
        observer?.Invoke(LinearInputGroup.AttentionOutput, _attn.Pointer, rows, s.QDim);
        var o = w[LinearKind.O];
        o.Apply(_blas, _attn.Pointer, _proj!.Pointer, rows);
        _kernels.ResidualAdd(DType, x, _proj.Pointer, o.Bias?.Pointer ?? CUdeviceptr.Null, rows, s.Hidden);

        _kernels.RmsNorm(DType, _normed.Pointer, x, w.PostAttentionNorm.Pointer, rows, s.Hidden, s.RmsNormEps);
        observer?.Invoke(LinearInputGroup.MlpInput, _normed.Pointer, rows, s.Hidden);
        Project(w[LinearKind.Gate], _normed.Pointer, _gate!, rows);
        Project(w[LinearKind.Up], _normed.Pointer, _up!, rows);
        _kernels.SwiGlu(DType, _act!.Pointer, _gate!.Pointer, _up!.Pointer, (long)rows * s.Intermediate);
        observer?.Invoke(LinearInputGroup.MlpHidden, _act.Pointer, rows, s.Intermediate);
        // Whoever only wants the linear inputs (the dense statistics pass) has them all now; the
        // layer's output would be thrown away.
        if (observer is not null && inputsOnly) return;
        var down = w[LinearKind.Down];
        down.Apply(_blas, _act.Pointer, _proj.Pointer, rows);
        _kernels.ResidualAdd(DType, x, _proj.Pointer, down.Bias?.Pointer ?? CUdeviceptr.Null, rows, s.Hidden);
    }

    /// <summary>Device bytes of scratch per token (what a batch of tokens costs besides the hidden state).</summary>
    public static long ScratchBytesPerToken(ModelShape s, DType dtype)
    {
        int e = dtype.ElementSize();
        return (long)s.Hidden * e + (long)s.QDim * (4 + e) + 2L * s.KvDim * 4 + (long)s.Hidden * 4 + (long)s.Intermediate * (8 + e);
    }

    private void Project(DeviceLinear linear, CUdeviceptr input, DeviceBuffer<float> output, int rows)
    {
        linear.Apply(_blas, input, output.Pointer, rows);
        if (linear.Bias is not null) _kernels.BiasAdd(output.Pointer, linear.Bias.Pointer, rows, linear.OutFeatures);
    }

    private void Reserve(int rows)
    {
        if (rows <= _capacity) return;
        FreeScratch();
        var s = Shape;
        int e = DType.ElementSize();
        var c = Context;
        _normed = DeviceBuffer<byte>.Allocate(c, (long)rows * s.Hidden * e);
        _q = DeviceBuffer<float>.Allocate(c, (long)rows * s.QDim);
        _k = DeviceBuffer<float>.Allocate(c, (long)rows * s.KvDim);
        _v = DeviceBuffer<float>.Allocate(c, (long)rows * s.KvDim);
        _attn = DeviceBuffer<byte>.Allocate(c, (long)rows * s.QDim * e);
        _proj = DeviceBuffer<float>.Allocate(c, (long)rows * s.Hidden);
        _gate = DeviceBuffer<float>.Allocate(c, (long)rows * s.Intermediate);
        _up = DeviceBuffer<float>.Allocate(c, (long)rows * s.Intermediate);
        _act = DeviceBuffer<byte>.Allocate(c, (long)rows * s.Intermediate * e);
        _capacity = rows;
    }

    private void FreeScratch()
    {
        _normed?.Dispose(); _q?.Dispose(); _k?.Dispose(); _v?.Dispose(); _attn?.Dispose();
        _proj?.Dispose(); _gate?.Dispose(); _up?.Dispose(); _act?.Dispose();
        _normed = _attn = _act = null;
        _q = _k = _v = _proj = _gate = _up = null;
        _capacity = 0;
    }

    public void Dispose()
    {
        FreeScratch();
        _invFreq.Dispose();
    }
}
