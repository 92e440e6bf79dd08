namespace Rose.Pipeline;

/// <summary>The memory a prune used, for rose-report.json: the host's peak resident set as the kernel keeps it,
/// and, at the pipeline's sample points (each phase's end and after each pruned matrix, when one matrix's working
/// copies are already freed), the most anonymous and mapped-file memory of the host and the most GPU memory in use.
/// A resumed run's figures are its own invocation's. Null where it was not measured (no /proc, no GPU).</summary>
/// <param name="GpuPeakUsedGib">The driver's total minus free at the samples: includes the CUDA context and
/// any other process on the GPU.</param>
/// <param name="GcPauseSeconds">How long .NET's garbage collector stopped the process during the run: what its
/// compaction of the heap (Directory.Build.props) costs, beside the memory it saves.</param>
/// <param name="FullCollections">The run's full (generation 2) collections, the ones that may compact large arrays.</param>
public sealed record MemoryReport(double? HostPeakResidentGib, double? HostPeakAnonymousGib, double? HostPeakMappedFilesGib,
    double? GpuPeakUsedGib, double GcPauseSeconds, int FullCollections);

/// <summary>Keeps the largest figures of <see cref="MemoryReport"/> across samples.</summary>
internal sealed class MemoryPeaks(Func<(long Free, long Total)>? deviceMemory)
{
    private const double Gib = 1L << 30;
    private readonly TimeSpan _pausedBefore = GC.GetTotalPauseDuration();
    private readonly int _fullCollectionsBefore = GC.CollectionCount(2);
    private long? _anonymous, _mappedFiles, _gpuUsed;

    public void Sample() => Record();

    public MemoryReport Report()
    {
        var host = Record();
        return new MemoryReport(host?.PeakResident / Gib, _anonymous / Gib, _mappedFiles / Gib, _gpuUsed / Gib,
            (GC.GetTotalPauseDuration() - _pausedBefore).TotalSeconds, GC.CollectionCount(2) - _fullCollectionsBefore);
    }

    /// <summary>Takes one sample; returns the host's reading so the report need not read /proc again.</summary>
    private HostMemoryUsage? Record()
    {
        var host = HostMemoryUsage.Read();
        if (host is { } h)
        {
            _anonymous = Math.Max(_anonymous ?? 0, h.Anonymous);
            _mappedFiles = Math.Max(_mappedFiles ?? 0, h.MappedFiles);
        }
        if (deviceMemory is not null)
        {
            var (free, total) = deviceMemory();
            _gpuUsed = Math.Max(_gpuUsed ?? 0, total - free);
        }
        return host;
    }
}
