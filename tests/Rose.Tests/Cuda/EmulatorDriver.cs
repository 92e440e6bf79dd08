using System.Runtime.InteropServices;
using Rose.Native;

namespace Rose.Tests.Cuda;

/// <summary>The CPU emulator's own entry points (tests/CudaEmulator), from the libraries Rose loaded:
/// the driver's fault injection and census of driver calls, cuBLAS's census of GEMM flops. Only on
/// the emulator.</summary>
internal static unsafe class EmulatorDriver
{
    private static nint Export(string name, string library = "cuda")
    {
        string path = CudaLibraries.LoadedFrom(library) ?? throw new InvalidOperationException($"lib{library} is not loaded");
        return NativeLibrary.GetExport(NativeLibrary.Load(path), name);
    }

    /// <summary>After <paramref name="count"/> more device allocations every one fails as out of memory; −1 lifts it.</summary>
    public static void FailAllocationsAfter(long count) =>
        ((delegate* unmanaged<long, void>)Export("rose_emu_fail_allocations_after"))(count);

    public static void ResetCensus() => ((delegate* unmanaged<void>)Export("rose_emu_census_reset"))();

    /// <summary>The driver census since the last reset: what → (calls, bytes or blocks).</summary>
    public static Dictionary<string, (long Calls, long Amount)> Census() => ReadCensus(Export("rose_emu_census"));

    /// <summary>The reason the emulator gave for the last launch that failed (empty before any did).</summary>
    public static string LastLaunchError() => ReadText(Export("rose_emu_last_launch_error"));

    public static void ResetGemmCensus() => ((delegate* unmanaged<void>)Export("rose_emu_blas_census_reset", "cublas"))();

    /// <summary>The cuBLAS census since the last reset: "function k=depth" → (calls, flops).</summary>
    public static Dictionary<string, (long Calls, long Amount)> GemmCensus() => ReadCensus(Export("rose_emu_blas_census", "cublas"));

    /// <summary>The text an export of the form <c>long long f(char* buffer, long long size)</c> hands back: it copies
    /// at most size bytes and returns the whole length.</summary>
    private static string ReadText(nint export)
    {
        var read = (delegate* unmanaged<byte*, long, long>)export;
        // Room to spare: the text may grow between the two calls (a census counts on).
        var bytes = new byte[read(null, 0) + 1024];
        long length;
        fixed (byte* p = bytes)
            length = read(p, bytes.Length);
        if (length > bytes.Length)
            throw new InvalidOperationException($"the emulator's text grew past {bytes.Length} bytes while it was read");
        return System.Text.Encoding.UTF8.GetString(bytes, 0, (int)length);
    }

    private static Dictionary<string, (long Calls, long Amount)> ReadCensus(nint export)
    {
        var census = new Dictionary<string, (long, long)>();
        foreach (var line in ReadText(export).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(' ', 3);
            census[parts[2]] = (long.Parse(parts[0]), long.Parse(parts[1]));
        }
        return census;
    }
}
