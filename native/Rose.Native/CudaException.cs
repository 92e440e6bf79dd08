namespace Rose.Native;

/// <summary>
/// Any failure reported by a CUDA library (driver, NVRTC, cuBLAS, cuSOLVER) or by loading one.
/// The message is one line naming the library and function plus the library's own status name
/// and description, so it can be shown to a user as is.
/// </summary>
public sealed class CudaException : Exception
{
    public CudaException(string library, string function, int status, string statusName, string description, string? detail = null, Exception? inner = null)
        : base(FormatMessage(library, function, statusName, description, detail), inner)
    {
        Library = library;
        Function = function;
        Status = status;
        StatusName = statusName;
        Description = description;
        Detail = detail;
    }

    /// <summary>Logical library name: "cuda", "nvrtc", "cublas" or "cusolver".</summary>
    public string Library { get; }

    /// <summary>Exported function that failed (or the operation, for load failures).</summary>
    public string Function { get; }

    /// <summary>The raw status code (CUresult, nvrtcResult, cublasStatus_t, cusolverStatus_t); -1 when none.</summary>
    public int Status { get; }

    /// <summary>Symbolic status name such as CUDA_ERROR_OUT_OF_MEMORY.</summary>
    public string StatusName { get; }

    public string Description { get; }

    /// <summary>Extra text such as the full NVRTC compile log; kept out of the one-line message.</summary>
    public string? Detail { get; }

    private static string FormatMessage(string library, string function, string statusName, string description, string? detail)
    {
        var message = $"{library}: {function} failed: {statusName} ({description})";
        return detail is null ? message : message + Environment.NewLine + detail;
    }

    internal static CudaException LibraryMissing(string library, string function, string why) =>
        new(library, function, -1, "LIBRARY_NOT_FOUND", why);

    internal static CudaException EntryPointMissing(string library, string function, Exception inner) =>
        new(library, function, -1, "ENTRY_POINT_NOT_FOUND",
            $"{function} is not exported by {CudaLibraries.LoadedFrom(library) ?? library}", inner: inner);
}
