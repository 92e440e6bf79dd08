using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rose.Pipeline;

/// <summary>One pruned matrix in rose-report.json.</summary>
public sealed record MatrixReport(
    string Name,
    int Layer,
    string Kind,
    int[] Shape,
    double Sparsity,
    double? Loss,
    double? RelativeRange,
    bool? Reordered,
    double? DampUsed,
    int NonPdEvents,
    bool IdentityFallback,
    int DeadColumns,
    IReadOnlyDictionary<string, double> Seconds);

/// <summary>rose-report.json: settings, per-matrix results, totals and timings of one run.</summary>
public sealed record PruneReport
{
    public required string CommandLine { get; init; }
    public required string Model { get; init; }
    public required string Output { get; init; }
    public required string Method { get; init; }
    public double Sparsity { get; init; }
    public string? Pattern { get; init; }
    public int BlockSize { get; init; }
    public double Damp { get; init; }
    public string? ScoreStat { get; init; }
    public required string Backend { get; init; }
    public required CalibrationReport Calibration { get; init; }
    public required IReadOnlyList<MatrixReport> Matrices { get; init; }
    public double OverallSparsity { get; init; }
    public int NonPdEvents { get; init; }
    public int IdentityFallbacks { get; init; }
    public int ReorderedMatrices { get; init; }
    public double? PerplexityBefore { get; init; }
    public double? PerplexityAfter { get; init; }
    public int? EvalSeqLen { get; init; }
    /// <summary>When the run continued saved progress: the 0-based index of the first layer pruned by
    /// the resumed invocation (the layers before it came from the saved progress).</summary>
    public int? ResumedFromLayer { get; init; }
    public required IReadOnlyDictionary<string, double> Seconds { get; init; }
    /// <summary>Achieved TFLOP/s of the GEMM-like phases (<see cref="PhaseThroughput"/>).</summary>
    public IReadOnlyDictionary<string, double>? ThroughputTflops { get; init; }
    /// <summary>Achieved GB/s of the memory-bound phases (<see cref="PhaseThroughput.Bandwidth"/>).</summary>
    public IReadOnlyDictionary<string, double>? ThroughputGbps { get; init; }
    /// <summary>The GPU and its nominal peaks, when the run was on one.</summary>
    public Cuda.DevicePeak? Device { get; init; }
    /// <summary>Each throughput as a percentage of the device's matching peak: the 16-bit tensor peak for
    /// the statistics and forward of a 16-bit model, the FP32 peak for fp32 work, the memory bandwidth
    /// for GB/s phases.</summary>
    public IReadOnlyDictionary<string, double>? PercentOfPeak { get; init; }
    /// <summary>What the run held in host and GPU memory at its peaks (<see cref="MemoryReport"/>).</summary>
    public MemoryReport? Memory { get; init; }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, Json) + "\n");
}

public sealed record CalibrationReport(string Path, string Sampling, int NSamples, int SeqLen, int Seed, long Tokens);
