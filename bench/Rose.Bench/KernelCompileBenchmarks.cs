using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Filters;
using Rose.Cuda;
using Rose.Native;

namespace Rose.Bench;

/// <summary>A cold kernel cache: every kernel file compiled for sm_90 by NVRTC (no GPU needed), one after another
/// as the backend and the forward used to, and side by side as <see cref="KernelCompiler.CompileAll"/> does now.</summary>
[Config(typeof(NvrtcBenchConfig)), BenchmarkCategory("quick"), ProcessCount(1), WarmupCount(1), IterationCount(3)]
public class KernelCompileBenchmark
{
    private static readonly string[] Files = [.. KernelSources.KernelFiles];

    [Benchmark(Baseline = true)]
    public void OneAfterAnother()
    {
        var compiler = new KernelCompiler(cache: null);
        foreach (var file in Files) compiler.Compile(file, "sm_90");
    }

    [Benchmark]
    public void SideBySide() => new KernelCompiler(cache: null).CompileAll(Files, "sm_90");
}

/// <summary>Drops the compile benchmark, with one line saying why, where NVRTC does not load.</summary>
public sealed class NvrtcBenchConfig : ManualConfig
{
    public NvrtcBenchConfig()
    {
        AddFilter(new SimpleFilter(_ =>
        {
            if (Nvrtc.TryLoad(out var why)) return true;
            Console.WriteLine($"kernel compile skipped: {why}");
            return false;
        }));
    }
}
