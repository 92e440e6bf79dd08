using System.Runtime.InteropServices;

namespace Rose.Native.Interop;

/// <summary>Raw cuBLAS v2 API. Return values are cublasStatus_t; 0 is CUBLAS_STATUS_SUCCESS.</summary>
public static unsafe partial class CublasApi
{
    private const string Lib = CudaLibrarySearch.Cublas;

    static CublasApi() => CudaLibraries.EnsureResolver();

    [LibraryImport(Lib)] public static partial int cublasCreate_v2(IntPtr* handle);
    [LibraryImport(Lib)] public static partial int cublasDestroy_v2(IntPtr handle);
    [LibraryImport(Lib)] public static partial int cublasSetStream_v2(IntPtr handle, IntPtr stream);
    [LibraryImport(Lib)] public static partial int cublasSetMathMode(IntPtr handle, int mode);
    [LibraryImport(Lib)] public static partial int cublasGetVersion_v2(IntPtr handle, int* version);
    [LibraryImport(Lib)]
    public static partial int cublasSgemm_v2(IntPtr handle, int transA, int transB, int m, int n, int k,
        float* alpha, ulong a, int lda, ulong b, int ldb, float* beta, ulong c, int ldc);
    [LibraryImport(Lib)]
    public static partial int cublasGemmEx(IntPtr handle, int transA, int transB, int m, int n, int k,
        void* alpha, ulong a, int aType, int lda, ulong b, int bType, int ldb,
        void* beta, ulong c, int cType, int ldc, int computeType, int algo);
    [LibraryImport(Lib)]
    public static partial int cublasGemmStridedBatchedEx(IntPtr handle, int transA, int transB, int m, int n, int k,
        void* alpha, ulong a, int aType, int lda, long strideA, ulong b, int bType, int ldb, long strideB,
        void* beta, ulong c, int cType, int ldc, long strideC, int batchCount, int computeType, int algo);

    public static void Check(int status, string function)
    {
        if (status != 0)
        {
            var (name, text) = Describe(status);
            throw new CudaException(CudaLibrarySearch.Cublas, function, status, name, text);
        }
    }

    private static (string Name, string Text) Describe(int status) => status switch
    {
        1 => ("CUBLAS_STATUS_NOT_INITIALIZED", "the library was not initialized"),
        3 => ("CUBLAS_STATUS_ALLOC_FAILED", "resource allocation failed"),
        7 => ("CUBLAS_STATUS_INVALID_VALUE", "an unsupported value or parameter was passed"),
        8 => ("CUBLAS_STATUS_ARCH_MISMATCH", "the device does not support the operation"),
        11 => ("CUBLAS_STATUS_MAPPING_ERROR", "access to GPU memory space failed"),
        13 => ("CUBLAS_STATUS_EXECUTION_FAILED", "the GPU program failed to execute"),
        14 => ("CUBLAS_STATUS_INTERNAL_ERROR", "an internal operation failed"),
        15 => ("CUBLAS_STATUS_NOT_SUPPORTED", "the functionality requested is not supported"),
        16 => ("CUBLAS_STATUS_LICENSE_ERROR", "license error"),
        _ => ($"cublasStatus_t {status}", "unknown status"),
    };
}
