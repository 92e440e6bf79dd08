using BenchmarkDotNet.Attributes;
using Rose.Bench.Pruning;
using Rose.Cuda.Forward;
using Rose.Modeling;
using Rose.Native;
using Rose.SafeTensors;

namespace Rose.Bench;

/// <summary>The forward's own steps of one decoder layer, each on its own, for a 16-bit (bf16) model: the CUDA
/// kernel (both versions of attention: the fp32 one and the tensor-core one) beside the CPU forward's step that
/// computes the same values. The linears are cuBLAS's and the CPU GEMM's, benchmarked elsewhere.</summary>
public enum ForwardStep
{
    /// <summary>Causal attention with fp32 math: kernels/attention.cu, or CausalAttention and its rounding.</summary>
    Attention,

    /// <summary>Causal attention on tensor cores (kernels/attention_mma.cu); the CPU has no such version.</summary>
    AttentionTensorCores,
    RmsNorm,
    Rope,
    SwiGlu,
    ResidualAdd,
}

/// <summary>One window of a model's layer: its tokens and widths.</summary>
public sealed record ForwardShape(string Name, int Tokens, int Hidden, int Heads, int KvHeads, int Intermediate)
{
    public int HeadDim => Hidden / Heads;

    /// <summary>BenchmarkDotNet prints this in the parameter column.</summary>
    public override string ToString() => $"{Name} t{Tokens}";
}

/// <summary>Per invocation one window of <see cref="ForwardShape.Tokens"/> tokens through one step. The throughput
/// column divides what the CUDA kernel does by the time, for both devices alike: attention's flop (4·head_dim per
/// query–key pair of the causal triangle, Q·Kᵀ and P·V), or the bytes the kernel reads and writes (bf16 storage,
/// fp32 GEMM outputs). The CPU holds every value in fp32, rounded to bf16 where the model would hold it, so its
/// bytes differ; the same figure for both keeps the ratio of the two columns the ratio of the times. The CPU's
/// SwiGLU works in place on the gate, so its case restores the gate first (one copy more than the kernel).</summary>
[Config(typeof(PruningBenchConfig))]
[WarmupCount(1), IterationCount(3), IterationTime(250)]
public abstract class ForwardKernelBenchmark : IDeviceBenchmark
{
    private const DType Storage = DType.BF16;
    private const float Eps = 1e-5f;

    private CudaContext? _context;
    private ForwardKernels? _kernels;
    private readonly List<IDisposable> _device = [];
    private CUdeviceptr _a, _b, _c, _d;
    private float[] _x = [], _y = [], _z = [], _w = [], _out = [];
    private RotaryEmbedding? _rope;

    [Params(PruningBenchmark.Cpu, PruningBenchmark.Cuda)]
    public string Device { get; set; } = PruningBenchmark.Cpu;

    [ParamsAllValues]
    public ForwardStep Step { get; set; }

    [ParamsSource(nameof(Shapes))]
    public ForwardShape Shape { get; set; } = ForwardShapes.Quick[0];

    public abstract IEnumerable<ForwardShape> Shapes { get; }

    public string? CpuDeclines() => Step == ForwardStep.AttentionTensorCores
        ? $"{GetType().Name} {Step} {Shape} (the CPU has one attention, benchmarked as {ForwardStep.Attention})"
        : null;

    public BenchWork DeclaredWork()
    {
        double t = Shape.Tokens, h = Shape.Hidden, q = (double)Shape.Tokens * Shape.Heads * Shape.HeadDim;
        const int half = 2, single = 4;
        return Step switch
        {
            ForwardStep.Attention or ForwardStep.AttentionTensorCores =>
                BenchWork.Flops(4.0 * Shape.HeadDim * Shape.Heads * (t * (t + 1) / 2)),
            ForwardStep.RmsNorm => BenchWork.Bytes(t * h * (half + half) + h * single),
            ForwardStep.Rope => BenchWork.Bytes(q * (single + single)),
            ForwardStep.SwiGlu => BenchWork.Bytes(t * Shape.Intermediate * (single + single + half)),
            ForwardStep.ResidualAdd => BenchWork.Bytes(t * h * (half + single + half)),
            _ => throw new ArgumentOutOfRangeException(nameof(Step), Step, null),
        };
    }

    [GlobalSetup]
    public void GlobalSetup()
    {
        var rng = new Random(7);
        float[] Values(long n, double scale)
        {
            var a = new float[n];
            for (long i = 0; i < n; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
            FloatRounding.RoundInPlace(Storage, a);
            return a;
        }
        int t = Shape.Tokens, heads = Shape.Heads, dim = Shape.HeadDim;
        long q = (long)t * heads * dim, kv = (long)t * Shape.KvHeads * dim, hidden = (long)t * Shape.Hidden;
        long inner = (long)t * Shape.Intermediate;
        // Per step: _x, _y, _z its inputs, _w a weight or frequencies, _out its output (the CPU's arrays; the
        // device buffers _a.._d hold the same values in the kernel's layout).
        float[] none = [];
        (_x, _y, _z, _w, _out) = Step switch
        {
            ForwardStep.Attention or ForwardStep.AttentionTensorCores => (Values(q, 2), Values(kv, 2), Values(kv, 1), none, new float[q]),
            ForwardStep.RmsNorm => (Values(hidden, 1), none, none, Values(Shape.Hidden, 1), new float[hidden]),
            ForwardStep.Rope => (Values(q, 1), none, none, InverseFrequencies(dim), none),
            ForwardStep.SwiGlu => (Values(inner, 4), Values(inner, 1), none, none, new float[inner]),
            ForwardStep.ResidualAdd => (Values(hidden, 1), Values(hidden, 1e-2), none, none, none),
            _ => throw new ArgumentOutOfRangeException(nameof(Step), Step, null),
        };
        if (Step == ForwardStep.Rope) _rope = new RotaryEmbedding(_w);
        if (Device == PruningBenchmark.Cuda) PrepareDevice();
    }

    private static float[] InverseFrequencies(int headDim) =>
        [.. Enumerable.Range(0, headDim / 2).Select(i => (float)Math.Pow(10000, -2.0 * i / headDim))];

    private void PrepareDevice()
    {
        if (!CudaDriver.TryInitialize(out var why)) throw new InvalidOperationException($"cuda skipped: {why}");
        var context = _context = CudaContext.Create(0);
        _kernels = new ForwardKernels(context);
        CUdeviceptr Keep<T>(DeviceBuffer<T> buffer) where T : unmanaged
        {
            _device.Add(buffer);
            return buffer.Pointer;
        }
        CUdeviceptr Floats(float[] values) => Keep(DeviceBuffer<float>.FromHost(context, values));
        CUdeviceptr Output(long count) => Keep(DeviceBuffer<byte>.Allocate(context, count * Storage.ElementSize()));
        CUdeviceptr Stored(float[] values)
        {
            var bytes = new byte[values.LongLength * Storage.ElementSize()];
            FloatConversion.FromSingle(Storage, values, bytes);
            return Keep(DeviceBuffer<byte>.FromHost(context, bytes));
        }
        switch (Step)
        {
            case ForwardStep.Attention or ForwardStep.AttentionTensorCores:
                (_a, _b, _c, _d) = (Floats(_x), Floats(_y), Floats(_z), Output(_out.LongLength));
                break;
            case ForwardStep.RmsNorm:
                (_a, _b, _c) = (Stored(_x), Floats(_w), Output(_out.LongLength));
                break;
            case ForwardStep.Rope:
                (_a, _b) = (Floats(_x), Floats(_w));
                break;
            case ForwardStep.SwiGlu:
                (_a, _b, _c) = (Floats(_x), Floats(_y), Output(_out.LongLength));
                break;
            case ForwardStep.ResidualAdd:
                (_a, _b) = (Stored(_x), Floats(_y));
                break;
        }
        _context.Synchronize();
    }

    [Benchmark]
    public void Run()
    {
        if (Device == PruningBenchmark.Cuda) RunCuda();
        else RunCpu();
    }

    private void RunCuda()
    {
        var k = _kernels!;
        int t = Shape.Tokens;
        switch (Step)
        {
            case ForwardStep.Attention or ForwardStep.AttentionTensorCores:
                k.Attention(Storage, _d, _a, _b, _c, 1, t, Shape.Heads, Shape.KvHeads, Shape.HeadDim,
                    tensorCores: Step == ForwardStep.AttentionTensorCores);
                break;
            case ForwardStep.RmsNorm:
                k.RmsNorm(Storage, _c, _a, _b, t, Shape.Hidden, Eps);
                break;
            case ForwardStep.Rope:
                k.Rope(Storage, _a, _b, t, Shape.Heads, Shape.HeadDim, t);
                break;
            case ForwardStep.SwiGlu:
                k.SwiGlu(Storage, _c, _a, _b, (long)t * Shape.Intermediate);
                break;
            case ForwardStep.ResidualAdd:
                k.ResidualAdd(Storage, _a, _b, CUdeviceptr.Null, t, Shape.Hidden);
                break;
        }
        _context!.Synchronize();
    }

    /// <summary>As <see cref="DecoderLayerForward"/> runs each step for a window on its own (parallel inside it).</summary>
    private void RunCpu()
    {
        int t = Shape.Tokens;
        switch (Step)
        {
            case ForwardStep.Attention:
                CausalAttention.Forward(_x, _y, _z, _out, t, Shape.Heads, Shape.KvHeads, Shape.HeadDim, parallel: true);
                FloatRounding.RoundInPlace(Storage, _out);
                break;
            case ForwardStep.RmsNorm:
                CpuMath.RmsNorm(_x, _w, _out, t, Shape.Hidden, Eps, Storage, parallel: true);
                break;
            case ForwardStep.Rope:
                _rope!.Apply(_x, t, Shape.Heads, Storage, parallel: true);
                break;
            case ForwardStep.SwiGlu:
                _x.CopyTo(_out, 0);
                CpuMath.SiluMultiply(_out, _y, Storage, parallel: true);
                break;
            case ForwardStep.ResidualAdd:
                FloatRounding.RoundInPlace(Storage, _y);
                System.Numerics.Tensors.TensorPrimitives.Add(_x, _y, _x);
                FloatRounding.RoundInPlace(Storage, _x);
                break;
            default:
                throw new InvalidOperationException($"{Step} has no CPU version");
        }
    }

    [GlobalCleanup]
    public void GlobalCleanup()
    {
        foreach (var buffer in _device) buffer.Dispose();
        _device.Clear();
        _kernels?.Dispose();
        _context?.Dispose();
        (_kernels, _context) = (null, null);
    }
}

/// <summary>The shapes behind the "quick" and "full" categories.</summary>
public static class ForwardShapes
{
    /// <summary>Small enough for the CPU emulator of CUDA and two cores: 256 tokens, head_dim 64 (the tensor-core
    /// kernel's smaller size), GQA 8 → 4.</summary>
    public static IReadOnlyList<ForwardShape> Quick { get; } = [new("small", 256, 512, 8, 4, 1376)];

    /// <summary>LLaMA-2-7B (one 2048-token calibration window) and LLaMA-3-8B's GQA (32 → 8 heads, 14336 wide).</summary>
    public static IReadOnlyList<ForwardShape> Full { get; } =
        [new("llama2-7b", 2048, 4096, 32, 32, 11008), new("llama3-8b", 2048, 4096, 32, 8, 14336)];
}

[BenchmarkCategory("quick")]
public class ForwardKernelQuick : ForwardKernelBenchmark
{
    public override IEnumerable<ForwardShape> Shapes => ForwardShapes.Quick;
}

[BenchmarkCategory("full")]
public class ForwardKernelFull : ForwardKernelBenchmark
{
    public override IEnumerable<ForwardShape> Shapes => ForwardShapes.Full;
}
