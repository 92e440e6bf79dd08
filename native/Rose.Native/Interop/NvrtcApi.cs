using System.Runtime.InteropServices;

namespace Rose.Native.Interop;

/// <summary>Raw NVRTC API. Return values are nvrtcResult; 0 is NVRTC_SUCCESS.</summary>
public static unsafe partial class NvrtcApi
{
    private const string Lib = CudaLibrarySearch.Nvrtc;

    static NvrtcApi() => CudaLibraries.EnsureResolver();

    public const int NVRTC_ERROR_COMPILATION = 6;

    [LibraryImport(Lib)] public static partial int nvrtcVersion(int* major, int* minor);
    [LibraryImport(Lib)] public static partial int nvrtcGetNumSupportedArchs(int* count);
    [LibraryImport(Lib)] public static partial int nvrtcGetSupportedArchs(int* archs);
    [LibraryImport(Lib)]
    public static partial int nvrtcCreateProgram(IntPtr* program, byte* source, byte* name,
        int numHeaders, byte** headers, byte** includeNames);
    [LibraryImport(Lib)] public static partial int nvrtcCompileProgram(IntPtr program, int numOptions, byte** options);
    [LibraryImport(Lib)] public static partial int nvrtcGetProgramLogSize(IntPtr program, nuint* size);
    [LibraryImport(Lib)] public static partial int nvrtcGetProgramLog(IntPtr program, byte* log);
    [LibraryImport(Lib)] public static partial int nvrtcGetPTXSize(IntPtr program, nuint* size);
    [LibraryImport(Lib)] public static partial int nvrtcGetPTX(IntPtr program, byte* ptx);
    [LibraryImport(Lib)] public static partial int nvrtcGetCUBINSize(IntPtr program, nuint* size);
    [LibraryImport(Lib)] public static partial int nvrtcGetCUBIN(IntPtr program, byte* cubin);
    [LibraryImport(Lib)] public static partial int nvrtcDestroyProgram(IntPtr* program);
    [LibraryImport(Lib)] public static partial byte* nvrtcGetErrorString(int result);

    public static void Check(int result, string function, string? detail = null)
    {
        if (result != 0)
        {
            throw Error(result, function, detail);
        }
    }

    public static CudaException Error(int result, string function, string? detail = null)
    {
        var p = nvrtcGetErrorString(result);
        var name = p == null ? $"nvrtcResult {result}" : Marshal.PtrToStringUTF8((IntPtr)p) ?? $"nvrtcResult {result}";
        return new CudaException(CudaLibrarySearch.Nvrtc, function, result, name, Describe(result), detail);
    }

    private static string Describe(int result) => result switch
    {
        1 => "out of memory",
        2 => "program creation failed",
        3 => "invalid input",
        4 => "invalid program",
        5 => "invalid option",
        6 => "compilation failed; see the log",
        7 => "builtin operation failed (is libnvrtc-builtins installed?)",
        _ => "see the NVRTC documentation",
    };
}
