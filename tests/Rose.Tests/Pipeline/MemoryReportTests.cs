using NUnit.Framework;
using Rose.Pipeline;
using Rose.Pruning;
using Rose.Pruning.Cpu;
using Rose.Tests.Support;

namespace Rose.Tests.Pipeline;

/// <summary>rose-report.json's memory figures: /proc/self/status read right, and a prune's report holding them.</summary>
[TestFixture]
public class MemoryReportTests
{
    private const string Status = "Name:\trose\nVmPeak:\t 9000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1536 kB\n" +
                                  "RssAnon:\t     1024 kB\nRssFile:\t      500 kB\nRssShmem:\t       12 kB\nThreads:\t4\n";

    [Test]
    public void StatusFieldsAreReadInBytes()
    {
        var usage = HostMemoryUsage.Parse(Status);
        Assert.That(usage, Is.EqualTo(new HostMemoryUsage(Resident: 1536 * 1024, PeakResident: 2048 * 1024, Anonymous: 1024 * 1024,
            MappedFiles: 500 * 1024)));
    }

    [Test]
    public void AStatusWithoutTheSplitOfTheResidentSetGivesNothing()
    {
        // Kernels before 4.5 have no RssAnon / RssFile lines: no figure is better than a wrong one.
        Assert.That(HostMemoryUsage.Parse(Status.Replace("RssAnon", "Other", StringComparison.Ordinal)), Is.Null);
    }

    [Test]
    public void ThisProcessIsMeasuredOnLinux()
    {
        if (!OperatingSystem.IsLinux())
            Assert.Ignore("/proc/self/status is Linux's");
        var usage = HostMemoryUsage.Read();
        Assert.That(usage, Is.Not.Null);
        Assert.That(usage!.Value.Resident, Is.GreaterThan(10L << 20), "a .NET test host holds more than 10 MiB");
        Assert.That(usage.Value.PeakResident, Is.GreaterThanOrEqualTo(usage.Value.Resident));
        Assert.That(usage.Value.Anonymous + usage.Value.MappedFiles, Is.LessThanOrEqualTo(usage.Value.Resident));
    }

    [Test]
    public void TheGarbageCollectorsWorkIsCountedFromTheRunsStart()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true);   // one the run must not count
        var peaks = new MemoryPeaks(deviceMemory: null);
        var before = peaks.Report();
        for (int i = 0; i < 3; i++) GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        var after = peaks.Report();
        Assert.That(after.FullCollections - before.FullCollections, Is.GreaterThanOrEqualTo(3));
        Assert.That(after.FullCollections, Is.LessThan(GC.CollectionCount(2)), "the collections before the run are not its own");
        Assert.That(after.GcPauseSeconds, Is.GreaterThan(before.GcPauseSeconds), "three blocking collections stopped the process");
    }

    [Test]
    public void AHostPruneReportsItsHostMemoryAndNoGpu()
    {
        if (!OperatingSystem.IsLinux())
            Assert.Ignore("/proc/self/status is Linux's");
        string dir = TinyModelFactory.TempDir("memory");
        try
        {
            var model = TinyModelFactory.Create(new TinyModelSpec { Vocab = 300 }, Path.Combine(dir, "model"));
            ByteLevelTokenizerFixture.Write(model);
            string calib = Path.Combine(dir, "calib.txt");
            File.WriteAllText(calib, string.Join("\n\n", Enumerable.Range(0, 20).Select(i => string.Concat(Enumerable.Repeat($"word{i} ", 20)))));
            var report = new PruningPipeline(new CpuBackend(), TextWriter.Null).Run(new PruneRunOptions
            {
                ModelDirectory = model,
                OutputDirectory = Path.Combine(dir, "out"),
                Prune = new PruneOptions(PruneMethod.Rose, 0.5, null),
                CalibrationPath = calib,
                Sampling = CalibrationSampling.Sequential,
                NSamples = 4,
                SeqLen = 16,
            });
            var memory = report.Memory!;
            double resident = memory.HostPeakResidentGib ?? 0;
            Assert.That(resident, Is.GreaterThan(10.0 / 1024), "more than 10 MiB");
            Assert.That(memory.HostPeakAnonymousGib, Is.GreaterThan(0).And.LessThanOrEqualTo(resident));
            Assert.That(memory.HostPeakMappedFilesGib, Is.GreaterThan(0).And.LessThanOrEqualTo(resident));
            Assert.That(memory.GpuPeakUsedGib, Is.Null, "no GPU was used");
        }
        finally { Directory.Delete(dir, true); }
    }
}
