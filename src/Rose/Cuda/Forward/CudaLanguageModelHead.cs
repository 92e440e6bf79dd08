using Rose.Modeling;
using Rose.Native;
using Rose.SafeTensors;

namespace Rose.Cuda.Forward;

/// <summary>Final RMSNorm + lm_head + next-token NLL on the device, the vocabulary taken
/// <see cref="VocabChunk"/> columns at a time (one GEMM into an fp32 rows × chunk logits buffer,
/// then a running logsumexp per row), so a 128k vocabulary never needs rows × vocab logits.</summary>
public sealed class CudaLanguageModelHead : IDisposable
{
    private readonly ForwardKernels _kernels;
    private readonly CublasHandle _blas;
    private readonly DeviceBuffer<float> _norm;
    private readonly DeviceBuffer<byte> _weight;

    public CudaLanguageModelHead(CudaContext context, ForwardKernels kernels, CublasHandle blas,
        float[] norm, ReadOnlySpan<float> weight, int vocab, int hidden, float eps, DType dtype)
    {
        if (norm.Length != hidden || weight.Length != (long)vocab * hidden)
            throw new ArgumentException($"head tensors do not match vocab {vocab} × hidden {hidden}");
        ForwardKernels.Suffix(dtype);
        Context = context;
        _kernels = kernels;
        _blas = blas;
        Vocab = vocab;
        Hidden = hidden;
        Eps = eps;
        DType = dtype;
        _norm = DeviceBuffer<float>.FromHost(context, norm);
        try { _weight = DeviceLinear.Upload(context, weight, dtype); }
        catch { _norm.Dispose(); throw; }
    }

    /// <summary>The head of <paramref name="model"/> (lm_head, or the embeddings when tied).</summary>
    public static CudaLanguageModelHead Load(LlamaModel model, CudaContext context, ForwardKernels kernels, CublasHandle blas, DType dtype)
    {
        var c = model.Config;
        string headName = !c.TieWordEmbeddings && model.Checkpoint.Contains(LlamaModel.LmHeadName) ? LlamaModel.LmHeadName : LlamaModel.EmbeddingName;
        return new CudaLanguageModelHead(context, kernels, blas, model.Checkpoint.ReadFloat32(LlamaModel.FinalNormName),
            model.Checkpoint.ReadFloat32(headName), c.VocabSize, model.Shape.Hidden, model.Shape.RmsNormEps, dtype);
    }

    public CudaContext Context { get; }
    public int Vocab { get; }
    public int Hidden { get; }
    public float Eps { get; }
    public DType DType { get; }

    /// <summary>Vocabulary columns per logits GEMM; 0 picks one that keeps the logits buffer near 256 MB.</summary>
    public int VocabChunk { get; init; }

    /// <summary>nll[r] = logsumexp(logits[r]) − logits[r, targets[r]] for each of the
    /// <paramref name="rows"/> hidden rows (rows × hidden in <see cref="DType"/>, the residual stream's
    /// dtype); a negative target gives 0.</summary>
    public float[] TokenLosses(DeviceBuffer<byte> hidden, ReadOnlySpan<int> targets, int rows)
    {
        if (targets.Length != rows) throw new ArgumentException($"{targets.Length} targets for {rows} rows");
        foreach (int t in targets)
            if (t >= Vocab) throw new RoseException($"target token id {t} is outside the vocabulary of {Vocab}");
        int chunk = VocabChunk > 0 ? VocabChunk : (int)Math.Clamp((64L << 20) / Math.Max(rows, 1), 1024, 32768);
        chunk = Math.Min(chunk, Vocab);
        var c = Context;
        int e = DType.ElementSize();
        using var normed = DeviceBuffer<byte>.Allocate(c, (long)rows * Hidden * e);
        using var logits = DeviceBuffer<float>.Allocate(c, (long)rows * chunk);
        using var targetBuffer = DeviceBuffer<int>.FromHost(c, targets);
        using var runMax = DeviceBuffer<float>.Allocate(c, rows);
        using var runSum = DeviceBuffer<float>.Allocate(c, rows);
        using var targetLogit = DeviceBuffer<float>.Allocate(c, rows);
        using var nll = DeviceBuffer<float>.Allocate(c, rows);

        _kernels.RmsNorm(DType, normed.Pointer, hidden.Pointer, _norm.Pointer, rows, Hidden, Eps);
        _kernels.LossInit(runMax.Pointer, runSum.Pointer, targetLogit.Pointer, rows);
        for (int v0 = 0; v0 < Vocab; v0 += chunk)
        {
            int cols = Math.Min(chunk, Vocab - v0);
            DeviceLinear.Gemm(_blas, DType, _weight.PointerAt((long)v0 * Hidden * e), cols, Hidden, normed.Pointer, logits.Pointer, rows);
            _kernels.LossChunk(logits.Pointer, rows, cols, v0, targetBuffer.Pointer, runMax.Pointer, runSum.Pointer, targetLogit.Pointer);
        }
        _kernels.LossFinish(runMax.Pointer, runSum.Pointer, targetLogit.Pointer, targetBuffer.Pointer, nll.Pointer, rows);
        return nll.ToArray();
    }

    public void Dispose()
    {
        _norm.Dispose();
        _weight.Dispose();
    }
}
