using BenchmarkDotNet.Attributes;
using Rose.Cuda;
using Rose.Cuda.Forward;
using Rose.Native;
using Rose.SafeTensors;

namespace Rose.Bench.Pruning;

/// <summary>What one bf16 weight costs the device pipeline besides its pruning: bringing it to the pruner,
/// taking the result back for the checkpoint and having it ready for the next forward, by the two routes,
/// side by side on one GPU. "host" (the route before): the host's fp32 weights uploaded, the fp32 result
/// downloaded, then uploaded again in bf16 for the next forward. "resident": widened on the device from the
/// copy the statistics forward uploaded, rounded back into it, and downloaded once in bf16 (widened on the
/// host). CUDA only: the CPU backend has no device copy to keep.</summary>
[WarmupCount(1), IterationCount(3), IterationTime(250)]
public abstract class WeightRoundTripBenchmark
{
    private CudaBackend? _backend;
    private PinnedStaging? _staging;
    private DeviceBuffer<byte>? _resident;
    private float[] _host = [];

    [Params("host", "resident")]
    public string Route { get; set; } = "resident";

    [ParamsSource(nameof(Shapes))]
    public BenchShape Shape { get; set; } = BenchShapes.Quick[0];

    /// <summary>The category's shapes where CUDA is usable, none elsewhere (one line says why).</summary>
    public IEnumerable<BenchShape> Shapes()
    {
        if (BenchBackends.CudaUnavailableReason is { } why)
        {
            lock (Skipped)
                if (Skipped.Add(GetType().Name)) Console.WriteLine($"{GetType().Name}: cuda skipped: {why}");
            return [];
        }
        return ShapeSet;
    }

    protected abstract IReadOnlyList<BenchShape> ShapeSet { get; }

    private static readonly HashSet<string> Skipped = [];

    [GlobalSetup]
    public void Setup()
    {
        _backend = BenchBackends.Create(PruningBenchmark.Cuda, out var why) as CudaBackend
            ?? throw new InvalidOperationException($"cuda skipped: {why}");
        _host = BenchData.Weights(Shape.Rows, Shape.Cols);
        FloatRounding.RoundInPlace(DType.BF16, _host);
        // The runner uploads and re-uploads layers through its own staging on the legacy stream.
        _staging = new PinnedStaging(_backend.Context);
        _resident = DeviceLinear.Upload(_backend.Context, _host, DType.BF16, _staging);
    }

    [Benchmark]
    public void RoundTrip()
    {
        var backend = _backend!;
        if (Route == "host")
        {
            using var w = backend.Upload(_host, Shape.Rows, Shape.Cols);
            backend.Download(w, _host);
            using var next = DeviceLinear.Upload(backend.Context, _host, DType.BF16, _staging);
        }
        else
        {
            using var w = backend.Widen(_resident!, DType.BF16, Shape.Rows, Shape.Cols);
            backend.Narrow(w, _resident!, DType.BF16);
            backend.DownloadWidened(_resident!, DType.BF16, _host);
        }
        backend.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _resident?.Dispose();
        _staging?.Dispose();
        _backend?.Dispose();
    }
}

[BenchmarkCategory("quick")]
public class WeightRoundTripQuick : WeightRoundTripBenchmark
{
    protected override IReadOnlyList<BenchShape> ShapeSet => BenchShapes.Quick;
}

[BenchmarkCategory("full")]
public class WeightRoundTripFull : WeightRoundTripBenchmark
{
    protected override IReadOnlyList<BenchShape> ShapeSet => BenchShapes.Full;
}
