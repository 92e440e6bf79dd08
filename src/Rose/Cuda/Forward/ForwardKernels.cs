using System.Runtime.CompilerServices;
using Rose.Native;
using Rose.SafeTensors;

namespace Rose.Cuda.Forward;

/// <summary>The forward-pass kernels (kernels/embedding.cu … lm_head_loss.cu) loaded on one
/// context, with launch shapes that match each kernel's header comment. Everything runs on the
/// legacy default stream, the one cuBLAS uses too, so launches and GEMMs stay ordered.</summary>
public sealed class ForwardKernels : IDisposable
{
    private const int Threads = 256;
    private readonly CudaModule[] _modules;
    private readonly Dictionary<string, CudaKernel> _kernels = new(StringComparer.Ordinal);

    public ForwardKernels(CudaContext context, KernelCompiler? compiler = null)
    {
        Context = context;
        compiler ??= new KernelCompiler();
        string[] files = ["embedding.cu", "rmsnorm.cu", "rope.cu", "attention.cu", "attention_mma.cu", "swiglu.cu", "residual.cu", "lm_head_loss.cu", "round.cu"];
        _modules = compiler.LoadModules(context, files);
    }

    public CudaContext Context { get; }

    /// <summary>Entry-point suffix of a storage dtype: f32, bf16 or f16.</summary>
    public static string Suffix(DType dtype) => dtype switch
    {
        DType.F32 => "f32",
        DType.BF16 => "bf16",
        DType.F16 => "f16",
        _ => throw new RoseException($"the CUDA forward stores activations as F32, BF16 or F16, not {dtype.ToSafeTensorsString()}"),
    };

    /// <summary>Keys per tile of the attention kernel (see attention.cu).</summary>
    public static int AttentionKeysPerTile(int headDim) => headDim <= 128 ? 32 : 16;

    /// <summary>Queries per block of the attention kernel: 4 warps × (4 or 2) queries.</summary>
    public static int AttentionQueriesPerBlock(int headDim) => 4 * (headDim <= 128 ? 4 : 2);

    /// <summary>Dynamic shared memory of the attention kernel: K tile (padded rows), V tile, Q block, fp32.</summary>
    public static int AttentionSharedBytes(int headDim)
    {
        int kt = AttentionKeysPerTile(headDim);
        return sizeof(float) * (kt * (headDim + 1) + kt * headDim + AttentionQueriesPerBlock(headDim) * headDim);
    }

    public const int MaxHeadDim = 256;

    /// <summary>Gathers embedding rows; <paramref name="output"/> is in <paramref name="tableType"/>, the residual stream's dtype.</summary>
    public void Embedding(DType tableType, CUdeviceptr output, CUdeviceptr table, CUdeviceptr ids, int rows, int hidden, int vocab) =>
        Kernel($"rose_embedding_{Suffix(tableType)}").Launch(rows, Threads, 0, null, output, table, ids, rows, hidden, vocab);

    /// <summary>RMSNorm of the residual stream <paramref name="x"/> in <paramref name="dtype"/>; the output is in it too.</summary>
    public void RmsNorm(DType dtype, CUdeviceptr output, CUdeviceptr x, CUdeviceptr weight, int rows, int dim, float eps) =>
        Kernel($"rose_rmsnorm_{Suffix(dtype)}").Launch(rows, Threads, 0, null, output, x, weight, rows, dim, eps);

    /// <summary>RoPE in place on fp32 projections that hold values of <paramref name="dtype"/>, each step
    /// rounded to it as HF computes on tensors of that dtype (rope.cu).</summary>
    public void Rope(DType dtype, CUdeviceptr x, CUdeviceptr inverseFrequencies, int rows, int heads, int headDim, int seqLen) =>
        Kernel($"rose_rope_{Suffix(dtype)}").Launch(Dim3.Cover((long)rows * heads * (headDim / 2), Threads), Threads, 0, null,
            x, inverseFrequencies, rows, heads, headDim, seqLen);

    /// <summary>Rounds <paramref name="count"/> fp32 values in place to <paramref name="dtype"/> (nothing for F32).</summary>
    public void Round(DType dtype, CUdeviceptr x, long count)
    {
        if (dtype == DType.F32) return;
        Kernel($"rose_round_{Suffix(dtype)}").Launch(Dim3.Cover(count, Threads), Threads, 0, null, x, count);
    }

    /// <summary>Which kernel 16-bit models run attention on: true, the tensor-core one (attention_mma.cu);
    /// false, the fp32 one (attention.cu); null (the default), the tensor-core one wherever its probe on
    /// this device agrees with the fp32 one (<see cref="ProbeTensorCores"/>). ROSE_ATTENTION=mma or simt
    /// sets it for the process. Settable so a benchmark can compare both in one process.</summary>
    public static bool? TensorCoreAttentionByDefault
    {
        // Read when first needed, not in a static initializer: a mistyped value is then a plain error
        // naming the variable rather than a type-initialization failure.
        get => (_attentionChoice ??= new(ParseAttentionChoice(Environment.GetEnvironmentVariable("ROSE_ATTENTION")))).Value;
        set => _attentionChoice = new(value);
    }

    private static StrongBox<bool?>? _attentionChoice;

    internal static bool? ParseAttentionChoice(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        "mma" => true,
        "simt" => false,
        null or "" or "auto" => null,
        _ => throw new RoseException($"ROSE_ATTENTION must be mma, simt or auto, not '{value}'"),
    };

    private readonly Dictionary<(DType, int), AttentionProbe> _probes = [];

    /// <summary>Runs both attention kernels once on a small problem of this dtype and head size (three
    /// query tiles, GQA, with and without a sliding window; inputs representable in the dtype) and
    /// compares them: the tensor-core kernel rounds the probabilities to the dtype where the fp32 one
    /// keeps them, which moves an output by about one unit of the dtype's last place, while a kernel
    /// that misreads its fragments on some GPU is off by the outputs' own size. Cached per context.</summary>
    public AttentionProbe ProbeTensorCores(DType dtype, int headDim)
    {
        if (!TensorCoreAttentionSupports(dtype, headDim))
            throw new ArgumentException($"the tensor-core attention kernel does not cover {dtype.ToSafeTensorsString()} with head_dim {headDim}");
        lock (_probes)
        {
            if (_probes.TryGetValue((dtype, headDim), out var known)) return known;
            const int tokens = 150, heads = 4, kvHeads = 2;
            var rng = new Random(headDim);
            float[] Values(int n, float scale)
            {
                var a = new float[n];
                for (int i = 0; i < n; i++) a[i] = FloatRounding.Round(dtype, (float)((rng.NextDouble() * 2 - 1) * scale));
                return a;
            }
            var q = Values(tokens * heads * headDim, 2f);
            var k = Values(tokens * kvHeads * headDim, 2f);
            var v = Values(tokens * kvHeads * headDim, 1f);
            using var dq = DeviceBuffer<float>.FromHost(Context, q);
            using var dk = DeviceBuffer<float>.FromHost(Context, k);
            using var dv = DeviceBuffer<float>.FromHost(Context, v);
            long bytes = (long)q.Length * dtype.ElementSize();
            using var simt = DeviceBuffer<byte>.Allocate(Context, bytes);
            using var mma = DeviceBuffer<byte>.Allocate(Context, bytes);
            double worst = 0;
            string? failure = null;
            foreach (int? window in new int?[] { null, 37 })
            {
                Attention(dtype, simt.Pointer, dq.Pointer, dk.Pointer, dv.Pointer, 1, tokens, heads, kvHeads, headDim, tensorCores: false, window: window);
                var a = Widened(simt.ToArray(), dtype, q.Length);
                float[] b;
                try
                {
                    Attention(dtype, mma.Pointer, dq.Pointer, dk.Pointer, dv.Pointer, 1, tokens, heads, kvHeads, headDim, tensorCores: true, window: window);
                    b = Widened(mma.ToArray(), dtype, q.Length);
                }
                catch (CudaException e)
                {
                    // A launch the device refuses (resources, configuration) leaves the context usable: fall back.
                    // A fault that poisons the context fails the fp32 kernel's next launch too, and is reported there.
                    failure = e.Message;
                    worst = double.PositiveInfinity;
                    break;
                }
                for (int i = 0; i < a.Length; i++)
                {
                    // NaN compares false, so a NaN makes the difference infinite rather than invisible.
                    double d = Math.Abs((double)a[i] - b[i]);
                    worst = d <= worst ? worst : double.IsNaN(d) ? double.PositiveInfinity : d;
                }
            }
            // |outputs| ≤ 1 (averages of v): four units in the last place of 1 in the dtype.
            double tolerance = 4 * (dtype == DType.BF16 ? 1.0 / 128 : 1.0 / 1024);
            var probe = new AttentionProbe(dtype, headDim, worst, tolerance);
            _probes[(dtype, headDim)] = probe;
            if (!probe.Agrees)
                Console.Error.WriteLine($"notice: the tensor-core attention kernel {(failure is null ? "disagrees with the fp32 one" : "failed")} on {Context.Name} " +
                    $"({dtype.ToSafeTensorsString()}, head_dim {headDim}: {failure ?? $"max |Δ| {worst:G3}, allowed {tolerance:G3}"}); using the fp32 kernel");
            return probe;
        }
    }

    private static float[] Widened(byte[] bytes, DType dtype, int count)
    {
        var values = new float[count];
        FloatConversion.ToSingle(dtype, bytes, values);
        return values;
    }

    /// <summary>Whether the tensor-core kernel covers this case: a 16-bit output dtype and head_dim 64 or 128.</summary>
    public static bool TensorCoreAttentionSupports(DType outputType, int headDim) =>
        outputType is DType.BF16 or DType.F16 && headDim is 64 or 128;

    /// <param name="tensorCores">Force the tensor-core kernel (true) or the fp32 one (false); null
    /// follows <see cref="TensorCoreAttentionByDefault"/> where the tensor-core kernel applies.</param>
    /// <param name="window">A sliding window: each query sees itself and the window − 1 keys before it
    /// (HF's <c>kv_idx &gt; q_idx − window</c>); null for full causal attention.</param>
    public void Attention(DType outputType, CUdeviceptr output, CUdeviceptr q, CUdeviceptr k, CUdeviceptr v,
        int batch, int seqLen, int heads, int kvHeads, int headDim, bool? tensorCores = null, int? window = null)
    {
        if (window is < 1)
            throw new ArgumentOutOfRangeException(nameof(window), window, "a sliding window holds at least the query itself");
        // A window at least as long as the sequence masks nothing; 0 tells the kernels there is none.
        int kernelWindow = window is int w && w < seqLen ? w : 0;
        if (headDim < 2 || headDim > MaxHeadDim || headDim % 2 != 0)
            throw new RoseException($"the CUDA attention kernel supports even head_dim up to {MaxHeadDim}, not {headDim}");
        if (heads % kvHeads != 0)
            throw new RoseException($"{heads} attention heads are not a multiple of {kvHeads} key/value heads");
        float scale = 1f / MathF.Sqrt(headDim);
        bool supported = TensorCoreAttentionSupports(outputType, headDim);
        if (tensorCores == true && !supported)
            throw new ArgumentException($"the tensor-core attention kernel needs a BF16/F16 output and head_dim 64 or 128, not {outputType.ToSafeTensorsString()} and {headDim}");
        if (supported && (tensorCores ?? TensorCoreAttentionByDefault ?? ProbeTensorCores(outputType, headDim).Agrees))
        {
            uint queryTiles = (uint)((seqLen + MmaQueriesPerBlock - 1) / MmaQueriesPerBlock);
            Kernel($"rose_attention_mma_{Suffix(outputType)}_{headDim}").Launch(new Dim3(queryTiles, (uint)heads, (uint)batch), 128,
                0, null, output, q, k, v, seqLen, heads, kvHeads, scale, kernelWindow);
            return;
        }
        int tiles = (seqLen + AttentionQueriesPerBlock(headDim) - 1) / AttentionQueriesPerBlock(headDim);
        Kernel($"rose_attention_{Suffix(outputType)}").Launch(new Dim3((uint)tiles, (uint)heads, (uint)batch), 128,
            AttentionSharedBytes(headDim), null, output, q, k, v, seqLen, heads, kvHeads, headDim, scale, kernelWindow);
    }

    /// <summary>Queries per block of the tensor-core attention kernel (4 warps × 16).</summary>
    private const int MmaQueriesPerBlock = 64;

    public void SwiGlu(DType outputType, CUdeviceptr output, CUdeviceptr gate, CUdeviceptr up, long count) =>
        Kernel($"rose_swiglu_{Suffix(outputType)}").Launch(Dim3.Cover(count, Threads), Threads, 0, null, output, gate, up, count);

    /// <summary>hidden += delta (+ bias per column; pass <see cref="CUdeviceptr.Null"/> for none), with
    /// hidden in <paramref name="dtype"/> and delta fp32, rounded to the dtype as residual.cu says.</summary>
    public void ResidualAdd(DType dtype, CUdeviceptr hidden, CUdeviceptr delta, CUdeviceptr bias, int rows, int cols) =>
        Kernel($"rose_residual_add_{Suffix(dtype)}").Launch(Dim3.Cover((long)rows * cols, Threads), Threads, 0, null, hidden, delta, bias, rows, cols);

    public void BiasAdd(CUdeviceptr x, CUdeviceptr bias, int rows, int cols) =>
        Kernel("rose_bias_add_f32").Launch(Dim3.Cover((long)rows * cols, Threads), Threads, 0, null, x, bias, rows, cols);

    public void LossInit(CUdeviceptr runMax, CUdeviceptr runSum, CUdeviceptr targetLogit, int rows) =>
        Kernel("rose_lm_loss_init").Launch(Dim3.Cover(rows, Threads), Threads, 0, null, runMax, runSum, targetLogit, rows);

    public void LossChunk(CUdeviceptr logits, int rows, int cols, int v0, CUdeviceptr targets,
        CUdeviceptr runMax, CUdeviceptr runSum, CUdeviceptr targetLogit) =>
        Kernel("rose_lm_loss_chunk").Launch(rows, Threads, 0, null, logits, rows, cols, v0, targets, runMax, runSum, targetLogit);

    public void LossFinish(CUdeviceptr runMax, CUdeviceptr runSum, CUdeviceptr targetLogit, CUdeviceptr targets, CUdeviceptr nll, int rows) =>
        Kernel("rose_lm_loss_finish").Launch(Dim3.Cover(rows, Threads), Threads, 0, null, runMax, runSum, targetLogit, targets, nll, rows);

    private CudaKernel Kernel(string name)
    {
        lock (_kernels)
        {
            if (_kernels.TryGetValue(name, out var kernel)) return kernel;
            foreach (var module in _modules)
            {
                try
                {
                    kernel = module.GetKernel(name);
                    _kernels[name] = kernel;
                    return kernel;
                }
                catch (CudaException)
                {
                    // not in this module; try the next
                }
            }
            throw new RoseException($"kernel '{name}' is in none of the forward modules");
        }
    }

    public void Dispose()
    {
        foreach (var module in _modules) module?.Dispose();
    }
}
