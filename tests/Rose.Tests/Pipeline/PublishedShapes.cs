using Rose.Modeling;

namespace Rose.Tests.Pipeline;

/// <summary>The published models' shapes the memory and throughput tests size against.</summary>
internal static class PublishedShapes
{
    public static readonly ModelShape Llama2_7B = new(4096, 11008, 32, 32, 128, 1e-5f);
    public static readonly ModelShape Llama2_13B = new(5120, 13824, 40, 40, 128, 1e-5f);
    public static readonly ModelShape Llama2_70B = new(8192, 28672, 64, 8, 128, 1e-5f);
    public static readonly ModelShape Llama3_8B = new(4096, 14336, 32, 8, 128, 1e-5f);
}
