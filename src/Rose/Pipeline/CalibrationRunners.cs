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
            long need = CudaCalibrationRunner.DeviceBytes(model.Shape, dtype, windows.Length, seqLen, offload);
            long hostStates = CudaCalibrationRunner.HostBytes(model.Shape, dtype, windows.Length, seqLen);
            var (free, total) = cuda.Context.MemoryInfo();
            string shape = $"{windows.Length} × {seqLen} tokens × {model.Shape.Hidden} {dtype.ToSafeTensorsString()}";
            log.WriteLine(offload
                ? $"calibration activations in pinned host memory: {Gib(hostStates)} ({shape}); GPU memory needed: {Gib(need)} (one batch of activations, forward scratch, one layer's weights, statistics and pruning); free {Gib((long)free)} of {Gib((long)total)}"
                : $"GPU memory needed: {Gib(need)} (activations {Gib(hostStates)} for {shape}, forward scratch, one layer's weights, statistics and pruning); free {Gib((long)free)} of {Gib((long)total)}");
            if (need > (long)free * 0.85)
                throw new RoseException($"pruning on the GPU needs {Gib(need)} of GPU memory but only {Gib((long)free)} is free; "
                    + (offload ? "lower --nsamples or --seqlen" : "pass --offload-activations, or lower --nsamples or --seqlen"));
            if (offload && hostStates > (hostLimit ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes) * 0.9)
                throw new RoseException($"the offloaded calibration activations need {Gib(hostStates)} of host memory, more than is available; lower --nsamples or --seqlen");
            return new CudaCalibrationRunner(model, windows, cuda, offload);
        }
        long states = CalibrationRunner.StateBytes(model.Shape, windows.Length, seqLen);
        long capture = CalibrationRunner.CaptureBytes(model.Shape, seqLen) * Math.Min(windows.Length, Environment.ProcessorCount);
        long available = hostLimit ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        log.WriteLine($"calibration activations: {windows.Length} × {seqLen} tokens × {model.Shape.Hidden} fp32 = {Gib(states)} (+ up to {Gib(capture)} of captured layer inputs); available {Gib(available)}");
        if (states + capture > available * 0.9)
            throw new RoseException($"the calibration activations need {Gib(states + capture)} but only {Gib(available)} is available; lower --nsamples or --seqlen");
        return new CalibrationRunner(model, windows);
    }

    private static string Gib(long bytes) => $"{bytes / (double)(1L << 30):F2} GiB";
}
