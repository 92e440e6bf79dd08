using BenchmarkDotNet.Attributes;
using Rose.Bench.Pruning;
using Rose.Cuda.Forward;
using Rose.Pipeline;
using Rose.Pruning;
using Rose.SafeTensors;
using Rose.Synthesis;

namespace Rose.Bench;

/// <summary>Devices a pipeline benchmark can run on here: cuda only where a CUDA backend can be made
/// (one line says why not).</summary>
internal static class PipelineDevices
{
    public static IEnumerable<string> Available(bool cpu)
    {
        // ROSE_BENCH_DEVICES (e.g. "cpu", "cuda") picks the devices explicitly, the CPU included.
        var listed = Environment.GetEnvironmentVariable(RunnableCaseFilter.DevicesVariable) is { Length: > 0 } devices
            ? devices.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) : null;
        if (listed?.Contains("cpu") ?? cpu) yield return "cpu";
        if (listed is not null && !listed.Contains("cuda")) yield break;
        if (BenchBackends.CudaUnavailableReason is { } why) Console.WriteLine($"cuda skipped: {why}");
        else yield return "cuda";
    }

    public static PruneReport Prune(IPruningBackend backend, string model, string calib, string outDir, PruneMethod method,
        double sparsity, int nsamples, int seqLen, IProgress<ProgressUpdate>? progress = null) =>
        new PruningPipeline(backend, TextWriter.Null).Run(new PruneRunOptions
        {
            ModelDirectory = model,
            OutputDirectory = outDir,
            Prune = new PruneOptions(method, sparsity, null),
            CalibrationPath = calib,
            Sampling = CalibrationSampling.Sequential,
            NSamples = nsamples,
            SeqLen = seqLen,
            Force = true,
        }, progress);

    public static void Print(string title, PruneReport report) =>
        Console.WriteLine($"{title}: " + string.Join(", ", report.Seconds.Select(p => $"{p.Key} {p.Value:F2} s")));
}

/// <summary>Prints the seconds since the run began each time a layer is written, so a run stopped by a
/// timeout still tells how far it got and at what rate.</summary>
internal sealed class LayerTimes : IProgress<ProgressUpdate>
{
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();

    public void Report(ProgressUpdate value)
    {
        if (value.Stage.EndsWith(" written", StringComparison.Ordinal))
            Console.WriteLine($"[{_clock.Elapsed.TotalSeconds:F1} s] {value.Stage}");
    }
}

/// <summary>The whole `rose prune` of the bundled sample (load → written output), ROSE and SparseGPT
/// at 50%, sequential calibration 64 × 512: CPU and CUDA side by side.</summary>
// Job mutators rather than a job attribute: with --inProcess a job attribute would run out of process
// beside a second, default in-process job.
[BenchmarkCategory("quick"), ProcessCount(1), WarmupCount(1), IterationCount(3)]
public class SamplePipelineBenchmark
{
    private IPruningBackend _backend = null!;
    private string _out = "";
    private PruneReport? _last;

    [ParamsSource(nameof(Devices))] public string Device { get; set; } = "cpu";
    [Params(PruneMethod.SparseGpt, PruneMethod.Rose)] public PruneMethod Algorithm { get; set; }

    public static IEnumerable<string> Devices() => PipelineDevices.Available(cpu: true);

    [GlobalSetup]
    public void Setup()
    {
        _backend = BenchBackends.Create(Device, out var why) ?? throw new InvalidOperationException(why);
        _out = Path.Combine(Path.GetTempPath(), $"rose-bench-sample-{Environment.ProcessId}");
    }

    [Benchmark]
    public double PruneSample()
    {
        _last = PipelineDevices.Prune(_backend, BundledSample.ModelDirectory, BundledSample.CalibrationText, _out, Algorithm, 0.5, 64, 512);
        return _last.OverallSparsity;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_last is not null) PipelineDevices.Print($"sample {Algorithm} {Device}", _last);
        _backend.Dispose();
        if (Directory.Exists(_out)) Directory.Delete(_out, true);
    }
}

/// <summary>The speed target: a LLaMA-2-7B-shaped bf16 checkpoint (synthesized on this
/// machine, random weights) pruned with ROSE at 70% from 128 × 2048 calibration tokens, load to
/// written output, on CUDA. ROSE_BENCH_LAYERS (default 32) shortens the synthesized model for a quick
/// look; ROSE_BENCH_MODEL names an existing checkpoint to prune instead (kept afterwards);
/// ROSE_BENCH_ATTENTION lists the attention kernels to compare ("simt", "mma"; default: the
/// configured one); ROSE_BENCH_REPORT is a folder that receives each case's rose-report.json;
/// ROSE_BENCH_NSAMPLES and ROSE_BENCH_SEQLEN shrink the calibration (bench/gpu/rehearse.sh runs this on
/// the CPU emulator of CUDA with a tiny model).</summary>
[BenchmarkCategory("full"), ColdStartOnce]
public class Llama7BPipelineBenchmark
{
    private IPruningBackend _backend = null!;
    private string _root = "";
    private string _model = "";
    private PruneReport? _last;

    [ParamsSource(nameof(Devices))] public string Device { get; set; } = "cuda";
    [ParamsSource(nameof(Attentions))] public string Attention { get; set; } = "simt";

    public static IEnumerable<string> Devices() => PipelineDevices.Available(cpu: false);

    public static IEnumerable<string> Attentions() =>
        (Environment.GetEnvironmentVariable("ROSE_BENCH_ATTENTION") is { Length: > 0 } list
            ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : [ForwardKernels.TensorCoreAttentionByDefault switch { true => "mma", false => "simt", null => "auto" }]);

    [GlobalSetup]
    public void Setup()
    {
        _backend = BenchBackends.Create(Device, out var why) ?? throw new InvalidOperationException(why);
        ForwardKernels.TensorCoreAttentionByDefault = ForwardKernels.ParseAttentionChoice(Attention);
        _root = Path.Combine(Path.GetTempPath(), $"rose-bench-7b-{Environment.ProcessId}-{Attention}");
        if (Environment.GetEnvironmentVariable("ROSE_BENCH_MODEL") is { Length: > 0 } existing)
        {
            _model = existing;
            return;
        }
        _model = Path.Combine(_root, "model");
        int? layers = int.TryParse(Environment.GetEnvironmentVariable("ROSE_BENCH_LAYERS"), out var n) ? n : null;
        SyntheticCheckpoint.Write("llama2-7b", DType.BF16, _model, layers);
    }

    [Benchmark]
    public double PruneLlama7B()
    {
        _last = PipelineDevices.Prune(_backend, _model, BundledSample.CalibrationText,
            Path.Combine(_root, "out"), PruneMethod.Rose, 0.7, Setting("ROSE_BENCH_NSAMPLES", 128), Setting("ROSE_BENCH_SEQLEN", 2048),
            new LayerTimes());
        return _last.OverallSparsity;
    }

    private static int Setting(string variable, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(variable), out var value) && value > 0 ? value : fallback;

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_last is not null)
        {
            PipelineDevices.Print($"llama2-7b rose 70% {Device} attention {Attention}", _last);
            if (Environment.GetEnvironmentVariable("ROSE_BENCH_REPORT") is { Length: > 0 } folder)
            {
                Directory.CreateDirectory(folder);
                int layers = _last.Matrices.Select(m => m.Layer).Distinct().Count();
                File.Copy(Path.Combine(_root, "out", "rose-report.json"), Path.Combine(folder, $"7b-{layers}layers-{Device}-{Attention}.json"), true);
            }
        }
        _backend.Dispose();
        if (Directory.Exists(_root)) Directory.Delete(_root, true);
    }
}
