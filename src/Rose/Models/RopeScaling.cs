namespace Rose.Models;

/// <summary>RoPE frequency scaling as declared by a config's <c>rope_scaling</c> (or
/// <c>rope_parameters</c>). Only the kinds that change the inverse frequencies statically are
/// supported: <c>linear</c> and <c>llama3</c>.</summary>
/// <param name="Type">"linear" or "llama3".</param>
/// <param name="Factor">Context extension factor (both kinds).</param>
/// <param name="LowFreqFactor">llama3 only.</param>
/// <param name="HighFreqFactor">llama3 only.</param>
/// <param name="OriginalMaxPositionEmbeddings">llama3 only: the pre-extension context length.</param>
public sealed record RopeScaling(
    string Type,
    double Factor,
    double? LowFreqFactor = null,
    double? HighFreqFactor = null,
    int? OriginalMaxPositionEmbeddings = null)
{
    public const string Linear = "linear";
    public const string Llama3 = "llama3";

    /// <summary>Scaling kinds this tool implements, in the order error messages list them.</summary>
    public static IReadOnlyList<string> SupportedTypes { get; } = [Linear, Llama3];
}
