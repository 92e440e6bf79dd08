using NUnit.Framework;
namespace Rose.Tests.Tokenization;

internal static class SampleData
{
    /// <summary>/work/shared/data, or ROSE_DATA_DIR when the data lives elsewhere.</summary>
    public static string Dir =>
        Environment.GetEnvironmentVariable("ROSE_DATA_DIR") is { Length: > 0 } d ? d : "/work/shared/data";

    public static string Tok512Model => Path.Combine(Dir, "stories260K", "tok512.model");
    public static string EvalText => Path.Combine(Dir, "tinystories-eval.txt");

    public static void RequireFile(string path)
    {
        if (!File.Exists(path))
            Assert.Ignore($"sample data not present: {path}");
    }
}
