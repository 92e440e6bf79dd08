using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Filters;
using BenchmarkDotNet.Running;

namespace Rose.Bench.Pruning;

/// <summary>Shared by every pruning benchmark (the short run itself is set on
/// <see cref="PruningBenchmark"/>): the throughput columns and the filter that removes cases that
/// cannot or should not run.</summary>
public sealed class PruningBenchConfig : ManualConfig
{
    public PruningBenchConfig()
    {
        AddColumn(new ThroughputColumn(WorkUnit.Flop), new ThroughputColumn(WorkUnit.Byte));
        AddFilter(new RunnableCaseFilter());
    }
}

/// <summary>BenchmarkDotNet has no skip: unrunnable cases are filtered out before the run instead.
/// cuda cases go when no CUDA backend can be created here (one line says why); cpu cases go where
/// the benchmark declines them (<see cref="IDeviceBenchmark.CpuDeclines"/>); and with
/// ROSE_BENCH_DEVICES set (e.g. "cuda") only the listed devices run.</summary>
public sealed class RunnableCaseFilter : IFilter
{
    public const string DevicesVariable = "ROSE_BENCH_DEVICES";

    private static readonly HashSet<string> Notices = [];

    private static readonly Lazy<string[]?> SelectedCategories = new(CommandLineCategories);

    public bool Predicate(BenchmarkCase benchmarkCase)
    {
        var instance = BenchCaseInstance.Create(benchmarkCase);
        if (instance is null) return true;
        if (Environment.GetEnvironmentVariable(DevicesVariable) is { Length: > 0 } devices
            && !devices.Split(',', StringSplitOptions.TrimEntries).Contains(instance.Device))
            return false;
        if (!SelectedByCategory(benchmarkCase)) return false;
        if (instance.Device == PruningBenchmark.Cuda)
        {
            if (BenchBackends.CudaUnavailableReason is not { } reason) return true;
            Notice($"cuda skipped: {reason}");
            return false;
        }
        if (instance.Device != PruningBenchmark.Cpu || instance.CpuDeclines() is not { } declined) return true;
        Notice($"cpu skipped: {declined}");
        return false;
    }

    private static void Notice(string line)
    {
        lock (Notices)
        {
            if (Notices.Add(line)) Console.WriteLine(line);
        }
    }

    /// <summary>BenchmarkDotNet ANDs this filter with its category filter in no stated order; repeating
    /// the category test here keeps the skip notices to the cases the run actually selected.</summary>
    private static bool SelectedByCategory(BenchmarkCase benchmarkCase) =>
        SelectedCategories.Value is not { } wanted
        || benchmarkCase.Descriptor.Categories.Any(c => wanted.Contains(c, StringComparer.OrdinalIgnoreCase));

    private static string[]? CommandLineCategories()
    {
        var args = Environment.GetCommandLineArgs();
        int at = Array.FindIndex(args, a => a is "--anyCategories" or "--allCategories");
        if (at < 0) return null;
        return [.. args.Skip(at + 1).TakeWhile(a => !a.StartsWith('-'))];
    }
}
