using BenchmarkDotNet.Attributes;
using Rose.Pruning;

namespace Rose.Bench.Pruning;

/// <summary>Common frame of the pruning-primitive benchmarks: the device and shape parameters, the
/// backend's lifetime, and the work declaration the throughput column reads. Subclasses pick the
/// shape set (one per category) and do the measured work, ending each invocation with
/// <see cref="IPruningBackend.Synchronize"/> so asynchronous GPU work is timed to completion.</summary>
/// <remarks>The short run (one warmup, three measured iterations of at least 250 ms) is set by job
/// mutator attributes, which apply to every job, including one from the command line (--inProcess,
/// --job short, --job dry): a default job in the config would be dropped beside those.</remarks>
[Config(typeof(PruningBenchConfig))]
[WarmupCount(1), IterationCount(3), IterationTime(250)]
public abstract class PruningBenchmark : IDeviceBenchmark
{
    public const string Cpu = "cpu";
    public const string Cuda = "cuda";

    /// <summary>ROSE's default unstructured sparsity, used by every masked primitive here.</summary>
    protected static readonly MaskRule Rule = new(0.7, null);

    protected const int BlockSize = 128;

    private IPruningBackend? _backend;

    /// <summary>CPU reference beside the GPU; cases the filter of <see cref="PruningBenchConfig"/>
    /// finds unrunnable (CUDA absent, CPU too slow at a full shape) are removed before the run.</summary>
    [Params(Cpu, Cuda)]
    public string Device { get; set; } = Cpu;

    [ParamsSource(nameof(Shapes))]
    public BenchShape Shape { get; set; } = BenchShapes.Quick[0];

    /// <summary>The shapes of this class's category.</summary>
    public abstract IEnumerable<BenchShape> Shapes { get; }

    protected IPruningBackend Backend => _backend ?? throw new InvalidOperationException("GlobalSetup has not run.");

    /// <summary>Whether the CPU backend takes part at <paramref name="shape"/>. Cases it declines are
    /// left out: at LLaMA-7B sizes a few CPU primitives need minutes per invocation.</summary>
    public virtual bool CpuRuns(BenchShape shape) => true;

    public string? CpuDeclines() =>
        CpuRuns(Shape) ? null : $"{GetType().Name} {Shape} (over the CPU's budget, see {nameof(BenchmarkLimits)})";

    public abstract BenchWork DeclaredWork();

    [GlobalSetup]
    public void GlobalSetup()
    {
        // The filter already dropped unavailable devices; failing here means the device vanished
        // between the host's probe and this process, which BenchmarkDotNet reports as a failed case.
        _backend = BenchBackends.Create(Device, out var reason)
            ?? throw new InvalidOperationException($"{Device} skipped: {reason}");
        Prepare();
        Backend.Synchronize();
    }

    [GlobalCleanup]
    public void GlobalCleanup()
    {
        Release();
        _backend?.Dispose();
        _backend = null;
    }

    /// <summary>Builds the inputs of the measured method on <see cref="Backend"/>.</summary>
    protected abstract void Prepare();

    /// <summary>Disposes what <see cref="Prepare"/> made.</summary>
    protected abstract void Release();

    /// <summary>Statistics of one calibration sequence of synthetic activations, folded by the
    /// backend under test (the factorizing benchmarks need a Hessian with a realistic spectrum).</summary>
    protected LayerInputStatistics FoldedStatistics()
    {
        var stats = new LayerInputStatistics(Backend, Shape.Cols);
        stats.Fold(BenchData.Activations(Shape.Tokens, Shape.Cols), Shape.Tokens);
        return stats;
    }
}
