using System.CommandLine;
using System.CommandLine.Help;

namespace Rose.Cli;

public static class Program
{
    public static int Main(string[] args) => Run(args, Console.Out);

    /// <summary>Exit codes: 0 success, 1 bad input or usage (one-line message), 2 internal error.</summary>
    public static int Run(string[] args, TextWriter stdout)
    {
        // Not a RootCommand: it takes its name from the executable, and help would then say "Rose.Cli".
        var root = new Command("rose", "Rose: one-shot pruning of LLaMA-family models (ROSE, SparseGPT, Wanda, magnitude)")
        {
            new HelpOption(),
            new VersionOption(),
            EvalCommand.Create(stdout),
            ImportLlama2cCommand.Create(stdout),
            PruneCommand.Create(stdout),
            PruneLayerCommand.Create(stdout),
            InspectCommand.Create(stdout),
            DemoCommand.Create(stdout),
            DoctorCommand.Create(stdout),
            SynthCommand.Create(stdout),
        };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) Console.Error.WriteLine($"error: {error.Message}");
            Console.Error.WriteLine("run 'rose --help' for usage");
            return 1;
        }
        // Help and version text go where the caller's stdout goes (tests pass a writer).
        return parsed.Invoke(new InvocationConfiguration { Output = stdout });
    }
}

/// <summary>Turns exceptions into the documented exit codes and one-line messages.</summary>
public static class CommandGuard
{
    public static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (OperationCanceledException e)
        {
            // The prune pipeline's message says what was kept (and how to resume); it is the only canceller.
            Console.Error.WriteLine($"interrupted: {OneLine(e.Message)}");
            return 130;
        }
        catch (RoseException e)
        {
            Console.Error.WriteLine($"error: {OneLine(e.Message)}");
            return 1;
        }
        catch (Rose.Native.CudaException e) when (e.StatusName is "CUDA_ERROR_OUT_OF_MEMORY" or "CUBLAS_STATUS_ALLOC_FAILED" or "CUSOLVER_STATUS_ALLOC_FAILED")
        {
            Console.Error.WriteLine($"error: the GPU ran out of memory in {e.Function}; pass --offload-activations, lower --nsamples or --seqlen, or use --device cpu");
            return 1;
        }
        catch (OutOfMemoryException)
        {
            // .NET's heap limit (in a container, three quarters of its memory limit) was reached; the pipeline has
            // already said which progress it kept.
            Console.Error.WriteLine($"error: the host ran out of memory (the .NET heap may hold {ByteSize.Format(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes)}); " +
                "lower --nsamples or --seqlen, prune with --device cuda, or raise the limit (DOTNET_GCHeapHardLimit, the container's memory)");
            return 1;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: {OneLine(e.Message)}");
            return 1;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"internal error: {e.GetType().Name}: {OneLine(e.Message)}");
            if (Environment.GetEnvironmentVariable("ROSE_DEBUG") == "1") Console.Error.WriteLine(e);
            return 2;
        }
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ");
}
