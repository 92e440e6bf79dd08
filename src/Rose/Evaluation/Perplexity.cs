using Rose.Cuda;
using Rose.Cuda.Forward;
using Rose.Modeling;
using Rose.Pruning;

namespace Rose.Evaluation;

/// <summary>Perplexity on the device the pruning backend runs on: the CUDA forward when the backend
/// is CUDA, the CPU forward otherwise. Same protocol either way.</summary>
public static class Perplexity
{
    public static PerplexityResult Evaluate(LlamaModel model, IPruningBackend backend, string text, int? seqLen = null,
        int? maxWindows = null, IProgress<ProgressUpdate>? progress = null) => backend is CudaBackend cuda
        ? new CudaPerplexityEvaluator(model, cuda.Context).Evaluate(text, seqLen, maxWindows, progress)
        : new PerplexityEvaluator(model).Evaluate(text, seqLen, maxWindows, progress);
}
