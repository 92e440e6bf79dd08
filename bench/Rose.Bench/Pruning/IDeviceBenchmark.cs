namespace Rose.Bench.Pruning;

/// <summary>A benchmark case on one device ("cpu" or "cuda") that can say from its parameters alone (no setup
/// run) how much work one invocation does and whether the CPU takes part, so the host process can filter it
/// (<see cref="RunnableCaseFilter"/>) and show its throughput (<see cref="ThroughputColumn"/>).</summary>
public interface IDeviceBenchmark : IDeclaresWork
{
    string Device { get; }

    /// <summary>Why the CPU sits this case out (one line for the skip notice), or null when it runs it.</summary>
    string? CpuDeclines();
}
