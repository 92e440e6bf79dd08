namespace Rose.Native;

/// <summary>
/// What the library search looks at: environment variables and the file system. Injected so the
/// candidate order can be tested without any CUDA installation.
/// </summary>
public sealed record LibrarySearchEnvironment(
    Func<string, string?> GetVariable,
    Func<string, bool> DirectoryExists,
    Func<string, string, IEnumerable<string>> ListDirectories,
    bool IsWindows)
{
    public static LibrarySearchEnvironment Current { get; } = new(
        Environment.GetEnvironmentVariable,
        Directory.Exists,
        static (parent, pattern) =>
        {
            try
            {
                return Directory.Exists(parent) ? Directory.GetDirectories(parent, pattern) : [];
            }
            catch (IOException)
            {
                return [];
            }
            catch (UnauthorizedAccessException)
            {
                return [];
            }
        },
        OperatingSystem.IsWindows());
}
