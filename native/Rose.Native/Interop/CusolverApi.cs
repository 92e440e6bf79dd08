using System.Runtime.InteropServices;

namespace Rose.Native.Interop;

/// <summary>Raw cuSOLVER dense API. Return values are cusolverStatus_t; 0 is CUSOLVER_STATUS_SUCCESS.</summary>
public static unsafe partial class CusolverApi
{
    private const string Lib = CudaLibrarySearch.Cusolver;

    static CusolverApi() => CudaLibraries.EnsureResolver();

    public const int MAJOR_VERSION = 0, MINOR_VERSION = 1, PATCH_LEVEL = 2;

    [LibraryImport(Lib)] public static partial int cusolverGetVersion(int* version);
    [LibraryImport(Lib)] public static partial int cusolverGetProperty(int type, int* value);
    [LibraryImport(Lib)] public static partial int cusolverDnCreate(IntPtr* handle);
    [LibraryImport(Lib)] public static partial int cusolverDnDestroy(IntPtr handle);
    [LibraryImport(Lib)] public static partial int cusolverDnSetStream(IntPtr handle, IntPtr stream);
    [LibraryImport(Lib)] public static partial int cusolverDnSpotrf_bufferSize(IntPtr handle, int uplo, int n, ulong a, int lda, int* lwork);
    [LibraryImport(Lib)] public static partial int cusolverDnSpotrf(IntPtr handle, int uplo, int n, ulong a, int lda, ulong workspace, int lwork, ulong devInfo);
    [LibraryImport(Lib)] public static partial int cusolverDnSpotri_bufferSize(IntPtr handle, int uplo, int n, ulong a, int lda, int* lwork);
    [LibraryImport(Lib)] public static partial int cusolverDnSpotri(IntPtr handle, int uplo, int n, ulong a, int lda, ulong workspace, int lwork, ulong devInfo);
    [LibraryImport(Lib)] public static partial int cusolverDnXtrtri_bufferSize(IntPtr handle, int uplo, int diag, long n, int dataTypeA,
        ulong a, long lda, nuint* workspaceInBytesOnDevice, nuint* workspaceInBytesOnHost);
    [LibraryImport(Lib)] public static partial int cusolverDnXtrtri(IntPtr handle, int uplo, int diag, long n, int dataTypeA,
        ulong a, long lda, ulong bufferOnDevice, nuint workspaceInBytesOnDevice, void* bufferOnHost, nuint workspaceInBytesOnHost, ulong devInfo);
    [LibraryImport(Lib)] public static partial int cusolverDnSpotrs(IntPtr handle, int uplo, int n, int nrhs, ulong a, int lda, ulong b, int ldb, ulong devInfo);

    public static void Check(int status, string function)
    {
        if (status != 0)
        {
            var (name, text) = Describe(status);
            throw new CudaException(CudaLibrarySearch.Cusolver, function, status, name, text);
        }
    }

    private static (string Name, string Text) Describe(int status) => status switch
    {
        1 => ("CUSOLVER_STATUS_NOT_INITIALIZED", "the library was not initialized"),
        2 => ("CUSOLVER_STATUS_ALLOC_FAILED", "resource allocation failed"),
        3 => ("CUSOLVER_STATUS_INVALID_VALUE", "an unsupported value or parameter was passed"),
        4 => ("CUSOLVER_STATUS_ARCH_MISMATCH", "the device does not support the operation"),
        5 => ("CUSOLVER_STATUS_MAPPING_ERROR", "access to GPU memory space failed"),
        6 => ("CUSOLVER_STATUS_EXECUTION_FAILED", "the GPU program failed to execute"),
        7 => ("CUSOLVER_STATUS_INTERNAL_ERROR", "an internal operation failed"),
        8 => ("CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED", "the matrix type is not supported"),
        9 => ("CUSOLVER_STATUS_NOT_SUPPORTED", "the functionality requested is not supported"),
        _ => ($"cusolverStatus_t {status}", "unknown status"),
    };
}
