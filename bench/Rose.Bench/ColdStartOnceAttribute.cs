using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;

namespace Rose.Bench;

/// <summary>One cold run and nothing else, for macrobenchmarks of a minute or more (a whole model's
/// prune): no jitting, pilot or warmup runs of the workload, which the default strategy makes even with
/// zero warmups. A job mutator, so it shapes a job given on the command line too (--inProcess, which
/// the GPU machine needs for want of an SDK) instead of running beside it as a second job.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ColdStartOnceAttribute : JobMutatorConfigBaseAttribute
{
    public ColdStartOnceAttribute()
        : base(Job.Default.WithStrategy(RunStrategy.ColdStart).WithLaunchCount(1).WithWarmupCount(0).WithIterationCount(1).WithInvocationCount(1).WithUnrollFactor(1))
    {
    }
}
