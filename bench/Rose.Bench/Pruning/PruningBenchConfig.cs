using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Filters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

namespace Rose.Bench.Pruning;

/// <summary>Shared by every pruning benchmark: a short default job (one warmup, three measured
/// iterations; a job given on the command line, e.g. --job dry, takes precedence), the throughput
/// columns, and the filter that removes cases that cannot or should not run.</summary>
public sealed class PruningBenchConfig : ManualConfig
{
    public PruningBenchConfig()
    {
        // AsDefault: applied beneath any job from the command line instead of adding a second job.
        AddJob(Job.Default.WithWarmupCount(1).WithIterationCount(3).AsDefault());
        AddColumn(new ThroughputColumn(WorkUnit.Flop), new ThroughputColumn(WorkUnit.Byte));
        AddFilter(new RunnableCaseFilter());
    }
}

/// <summary>BenchmarkDotNet has no skip: unrunnable cases are filtered out before the run instead.
/// cuda cases go when no CUDA backend can be created here (one line says why); cpu cases go where
/// the benchmark declines the shape (<see cref="PruningBenchmark.CpuRuns"/>).</summary>
public sealed class RunnableCaseFilter : IFilter
{
    private static readonly HashSet<string> CpuNotices = [];
    private static int _cudaNoticePrinted;

    public bool Predicate(BenchmarkCase benchmarkCase)
    {
        var instance = BenchCaseInstance.Create(benchmarkCase);
        if (instance is null) return true;
        if (instance.Device == PruningBenchmark.Cuda)
        {
            if (BenchBackends.CudaUnavailableReason is not { } reason) return true;
            if (Interlocked.Exchange(ref _cudaNoticePrinted, 1) == 0)
                Console.WriteLine($"cuda skipped: {reason}");
            return false;
        }
        if (instance.Device != PruningBenchmark.Cpu || instance.CpuRuns(instance.Shape)) return true;
        lock (CpuNotices)
        {
            if (CpuNotices.Add(benchmarkCase.DisplayInfo))
                Console.WriteLine($"cpu skipped: {benchmarkCase.Descriptor.Type.Name} {instance.Shape} (over the CPU's budget, see {nameof(BenchmarkLimits)})");
        }
        return false;
    }
}
