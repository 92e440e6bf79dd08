using Rose.Pruning;

namespace Rose.Pipeline;

public enum CalibrationSampling { Random, Sequential }

/// <summary>Everything one `rose prune` run needs.</summary>
public sealed record PruneRunOptions
{
    public required string ModelDirectory { get; init; }
    public required string OutputDirectory { get; init; }
    public required PruneOptions Prune { get; init; }
    public required string CalibrationPath { get; init; }
    public int NSamples { get; init; } = 128;
    /// <summary>Requested calibration window length; capped at max_position_embeddings.</summary>
    public int SeqLen { get; init; } = 2048;
    public CalibrationSampling Sampling { get; init; } = CalibrationSampling.Random;
    public int Seed { get; init; }
    public bool Force { get; init; }
    /// <summary>Keep the calibration activations in pinned host memory and stream them through the
    /// GPU batch by batch (CUDA only; the CPU backend keeps them in host memory anyway).</summary>
    public bool OffloadActivations { get; init; }
    /// <summary>Continue the interrupted run saved in the partial folder beside the output.</summary>
    public bool Resume { get; init; }
    /// <summary>A resume point with calibration activations (gigabytes at 7B and up) is saved after a layer
    /// once this many seconds, and at least ten times the last such save's duration, have passed since the
    /// last one; 0 saves after every layer. Ctrl+C and errors save one regardless.</summary>
    public double ResumeIntervalSeconds { get; init; } = 60;
    public string? EvalPath { get; init; }
    public int? EvalSeqLen { get; init; }
    /// <summary>Also measure the dense model's perplexity (when EvalPath is given).</summary>
    public bool EvalBefore { get; init; } = true;
    public string CommandLine { get; init; } = "";
    /// <summary>Stop with a clear message when the activations need more than this many bytes.</summary>
    public long? MemoryLimitBytes { get; init; }
    /// <summary>Stop with a clear message when the output needs more disk than this many bytes (default: what
    /// the file system holding --out has free).</summary>
    public long? DiskLimitBytes { get; init; }
}
