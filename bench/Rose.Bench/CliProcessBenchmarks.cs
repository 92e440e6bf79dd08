using System.Diagnostics;
using BenchmarkDotNet.Attributes;

namespace Rose.Bench;

/// <summary>`rose prune` of the bundled sample (ROSE 50%, its 64 × 512 calibration, CPU) as a user runs it:
/// a fresh process each time, so the JIT's tiering is part of the time, which the in-process
/// <see cref="SamplePipelineBenchmark"/> leaves out. Side by side: the JIT settings Rose's programs run with
/// (call-counting delay 0, Directory.Build.props), .NET's defaults (100 ms), and quick JIT off instead.</summary>
[BenchmarkCategory("quick"), ProcessCount(1), WarmupCount(1), IterationCount(5)]
public class CliProcessBenchmark
{
    private string _out = "";

    public enum JitSetting { Rose, DotnetDefault, QuickJitOff }

    [Params(JitSetting.Rose, JitSetting.DotnetDefault, JitSetting.QuickJitOff)] public JitSetting Jit { get; set; }

    [GlobalSetup]
    public void Setup() => _out = Path.Combine(Path.GetTempPath(), $"rose-bench-cli-{Environment.ProcessId}");

    [Benchmark]
    public int PruneSampleInANewProcess()
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { CliPath(), "prune", "--method", "rose", "--sparsity", "0.5", "--out", _out, "--force", "--device", "cpu" })
            start.ArgumentList.Add(arg);
        // The runtime reads DOTNET_ numbers as hexadecimal: 64 is the default delay of 100 ms.
        start.Environment["DOTNET_TC_CallCountingDelayMs"] = Jit == JitSetting.Rose ? "0" : "64";
        if (Jit == JitSetting.QuickJitOff) start.Environment["DOTNET_TC_QuickJit"] = "0";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        var errors = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"rose prune exited with {process.ExitCode}: {errors.Result}");
        return process.ExitCode;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (Directory.Exists(_out)) Directory.Delete(_out, true);
    }

    /// <summary>Beside this assembly: the project reference copies the program there, with its runtime configuration.</summary>
    private static string CliPath()
    {
        var path = Path.Combine(Path.GetDirectoryName(typeof(CliProcessBenchmark).Assembly.Location)!, "Rose.Cli.dll");
        return File.Exists(Path.ChangeExtension(path, ".runtimeconfig.json"))
            ? path
            : throw new FileNotFoundException($"{path} or its runtimeconfig.json is missing: build bench/Rose.Bench");
    }
}
