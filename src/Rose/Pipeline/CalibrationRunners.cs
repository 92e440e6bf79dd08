using Rose.Cuda;
using Rose.Cuda.Forward;
using Rose.Modeling;
using Rose.Pruning;
using Rose.SafeTensors;

namespace Rose.Pipeline;

/// <summary>Puts the calibration activations where the pruning backend computes: device memory for
/// the CUDA backend, host memory otherwise. Checks the memory first and says what to lower.</summary>
public static class CalibrationRunners
{
    public static ICalibrationRunner Create(LlamaModel model, int[][] windows, IPruningBackend backend, TextWriter log, long? hostLimit,
        bool offload = false)
    {
        int seqLen = windows.Length == 0 ? 0 : windows[0].Length;
        if (backend is CudaBackend cuda)
        {
            var dtype = CudaPerplexityEvaluator.DTypeOf(model);
            var (free, total) = cuda.Context.MemoryInfo();
            long need = CudaCalibrationRunner.DeviceBytes(model.Shape, dtype, windows.Length, seqLen, total, offload);
            long hostStates = CudaCalibrationRunner.HostBytes(model.Shape, dtype, windows.Length, seqLen);
            string shape = $"{windows.Length} × {seqLen} tokens × {model.Shape.Hidden} {dtype.ToSafeTensorsString()}";
            log.WriteLine(offload
                ? $"calibration activations in pinned host memory: {ByteSize.Format(hostStates)} ({shape}); GPU memory needed: {ByteSize.Format(need)} (one batch of activations, forward scratch, one layer's weights, statistics and pruning); free {ByteSize.Format((long)free)} of {ByteSize.Format((long)total)}"
                : $"GPU memory needed: {ByteSize.Format(need)} (activations {ByteSize.Format(hostStates)} for {shape}, forward scratch, one layer's weights, statistics and pruning); free {ByteSize.Format((long)free)} of {ByteSize.Format((long)total)}");
            if (DeviceMemoryShortfall(model.Shape, dtype, windows.Length, seqLen, offload, free, total) is { } why)
                throw new RoseException(why);
            if (offload && hostStates > (hostLimit ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes) * 0.9)
                throw new RoseException($"the offloaded calibration activations need {ByteSize.Format(hostStates)} of host memory, more than is available; lower --nsamples or --seqlen");
            return new CudaCalibrationRunner(model, windows, cuda, offload);
        }
        var activations = model.ActivationDType;
        long states = CalibrationRunner.StateBytes(model.Shape, windows.Length, seqLen, activations);
        long available = hostLimit ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        long capture = CalibrationRunner.CaptureBytes(model.Shape, seqLen) * CalibrationRunner.ParallelWindows(model.Shape, seqLen, windows.Length, available);
        long layer = CalibrationRunner.LayerWorkingBytes(model.Shape);
        log.WriteLine($"calibration activations: {windows.Length} × {seqLen} tokens × {model.Shape.Hidden} {activations.ToSafeTensorsString()} = {ByteSize.Format(states)} (+ up to {ByteSize.Format(capture)} of captured layer inputs); one layer's weights, statistics and pruning: up to {ByteSize.Format(layer)}; available {ByteSize.Format(available)}");
        if (HostMemoryShortfall(states + capture, layer, available) is { } shortfall)
            throw new RoseException(shortfall);
        return new CalibrationRunner(model, windows);
    }

    /// <summary>Why a host prune whose calibration needs <paramref name="calibration"/> bytes and whose layers need
    /// <paramref name="layer"/> does not fit <paramref name="available"/> (<see cref="HeapShare"/> of it), naming what
    /// can help, or null when it fits.</summary>
    internal static string? HostMemoryShortfall(long calibration, long layer, long available)
    {
        long budget = (long)(available * HeapShare);
        if (calibration > budget)
            return $"the calibration activations need {ByteSize.Format(calibration)} but only {ByteSize.Format(available)} is available; lower --nsamples or --seqlen";
        if (layer > budget)
            return $"pruning one decoder layer needs up to {ByteSize.Format(layer)} of memory (its fp32 weights, statistics and the widest matrix's pruning) but only {ByteSize.Format(available)} is available; prune on a machine with more memory or with --device cuda";
        if (calibration + layer > budget)
            return $"the calibration activations ({ByteSize.Format(calibration)}) and one decoder layer's pruning (up to {ByteSize.Format(layer)}) need more than the {ByteSize.Format(available)} available; lower --nsamples or --seqlen";
        return null;
    }

    /// <summary>The share of the memory .NET may use that the estimates may fill. The rest is for what they leave out
    /// (the runtime, the forward's scratch, the layer being written) and for the holes that hundreds-of-MB arrays leave
    /// in the heap even with its compaction on (Directory.Build.props): a LLaMA-2-7B-shaped ROSE prune on the CPU whose
    /// estimates came to 4.0 GiB ran out of memory under a 5.0 GiB heap limit and finished under 5.5 GiB.</summary>
    internal const double HeapShare = 0.7;

    /// <summary>Why a device prune of this size does not fit <paramref name="free"/> bytes of the
    /// <paramref name="total"/> of GPU memory (with the advice that can help: offloading only when it makes
    /// the run fit, nothing about the calibration size when one layer's working set alone is too large), or
    /// null when it fits.</summary>
    internal static string? DeviceMemoryShortfall(ModelShape shape, DType dtype, int windows, int seqLen, bool offload, long free, long total)
    {
        long budget = (long)(free * 0.85);
        long need = CudaCalibrationRunner.DeviceBytes(shape, dtype, windows, seqLen, total, offload);
        if (need <= budget) return null;
        string head = $"pruning on the GPU needs {ByteSize.Format(need)} of GPU memory but only {ByteSize.Format(free)} is free; ";
        long layer = CudaCalibrationRunner.LayerWorkingBytes(shape, dtype);
        if (layer > budget)
            return head + $"one decoder layer's weights, statistics and pruning alone need {ByteSize.Format(layer)}, so this model needs a larger GPU or --device cpu";
        long offloaded = CudaCalibrationRunner.DeviceBytes(shape, dtype, windows, seqLen, total, offload: true);
        if (!offload && offloaded <= budget)
            return head + $"pass --offload-activations (the GPU then needs {ByteSize.Format(offloaded)}), or lower --nsamples or --seqlen";
        return head + (offload ? "lower --seqlen or --nsamples" : "pass --offload-activations and lower --seqlen or --nsamples");
    }
}
