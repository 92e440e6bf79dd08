using Rose.Native.Interop;

namespace Rose.Native;

public enum CublasOperation
{
    None = 0,
    Transpose = 1,
    ConjugateTranspose = 2,
}

/// <summary>cudaDataType_t values used by the *Ex routines.</summary>
public enum CudaDataType
{
    R32F = 0,
    R64F = 1,
    R16F = 2,
    R8I = 3,
    R32I = 10,
    R16BF = 14,
}

/// <summary>cublasComputeType_t. The *Pedantic ones forbid reduced-precision shortcuts.</summary>
public enum CublasComputeType
{
    Compute16F = 64,
    Compute16FPedantic = 65,
    Compute32F = 68,
    Compute32FPedantic = 69,
    Compute32FFast16F = 74,
    Compute32FFast16BF = 75,
    Compute32FFastTF32 = 77,
    Compute64F = 70,
    Compute64FPedantic = 71,
    Compute32I = 72,
}

/// <summary>cublasMath_t. Default allows TF32 only when asked; Pedantic is the exact reference mode.</summary>
[Flags]
public enum CublasMathMode
{
    Default = 0,
    Pedantic = 2,
    Tf32TensorOp = 3,
    DisallowReducedPrecisionReduction = 16,
}

/// <summary>
/// A cuBLAS handle bound to a context. Matrices are column-major, as in cuBLAS itself; a
/// row-major C = A·B is computed as the column-major Cᵀ = Bᵀ·Aᵀ by swapping the operands.
/// </summary>
public sealed unsafe class CublasHandle : IDisposable
{
    private const int DefaultAlgorithm = -1;
    private IntPtr _handle;

    public CublasHandle(CudaContext context)
    {
        CudaLibraries.Require(CudaLibrarySearch.Cublas, nameof(CublasApi.cublasCreate_v2));
        Context = context;
        context.MakeCurrent();
        IntPtr handle;
        CublasApi.Check(CublasApi.cublasCreate_v2(&handle), nameof(CublasApi.cublasCreate_v2));
        _handle = handle;
    }

    public CudaContext Context { get; }

    public IntPtr Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle == IntPtr.Zero, this);
            return _handle;
        }
    }

    /// <summary>cuBLAS version as major*10000 + minor*100 + patch.</summary>
    public int Version
    {
        get
        {
            int version;
            CublasApi.Check(CublasApi.cublasGetVersion_v2(Handle, &version), nameof(CublasApi.cublasGetVersion_v2));
            return version;
        }
    }

    public void SetStream(CudaStream? stream) =>
        CublasApi.Check(CublasApi.cublasSetStream_v2(Handle, CudaStream.HandleOf(stream)), nameof(CublasApi.cublasSetStream_v2));

    public void SetMathMode(CublasMathMode mode) =>
        CublasApi.Check(CublasApi.cublasSetMathMode(Handle, (int)mode), nameof(CublasApi.cublasSetMathMode));

    /// <summary>C = alpha·op(A)·op(B) + beta·C in fp32, column-major; op(A) is m×k, op(B) k×n, C m×n.</summary>
    public void Sgemm(CublasOperation transA, CublasOperation transB, int m, int n, int k,
        float alpha, CUdeviceptr a, int lda, CUdeviceptr b, int ldb, float beta, CUdeviceptr c, int ldc)
    {
        Context.MakeCurrent();
        CublasApi.Check(CublasApi.cublasSgemm_v2(Handle, (int)transA, (int)transB, m, n, k,
            &alpha, a.Value, lda, b.Value, ldb, &beta, c.Value, ldc), nameof(CublasApi.cublasSgemm_v2));
    }

    /// <summary>cublasGemmEx with fp32 scalars (for every Compute32F* and Compute16F-free compute type).</summary>
    public void GemmEx(CublasOperation transA, CublasOperation transB, int m, int n, int k,
        float alpha, CUdeviceptr a, CudaDataType aType, int lda, CUdeviceptr b, CudaDataType bType, int ldb,
        float beta, CUdeviceptr c, CudaDataType cType, int ldc, CublasComputeType computeType = CublasComputeType.Compute32F)
    {
        RequireFloatScalars(computeType);
        Context.MakeCurrent();
        CublasApi.Check(CublasApi.cublasGemmEx(Handle, (int)transA, (int)transB, m, n, k,
            &alpha, a.Value, (int)aType, lda, b.Value, (int)bType, ldb,
            &beta, c.Value, (int)cType, ldc, (int)computeType, DefaultAlgorithm), nameof(CublasApi.cublasGemmEx));
    }

    /// <summary>Batched GemmEx over equally strided matrices (strides in elements).</summary>
    public void GemmStridedBatchedEx(CublasOperation transA, CublasOperation transB, int m, int n, int k,
        float alpha, CUdeviceptr a, CudaDataType aType, int lda, long strideA,
        CUdeviceptr b, CudaDataType bType, int ldb, long strideB,
        float beta, CUdeviceptr c, CudaDataType cType, int ldc, long strideC, int batchCount,
        CublasComputeType computeType = CublasComputeType.Compute32F)
    {
        RequireFloatScalars(computeType);
        Context.MakeCurrent();
        CublasApi.Check(CublasApi.cublasGemmStridedBatchedEx(Handle, (int)transA, (int)transB, m, n, k,
            &alpha, a.Value, (int)aType, lda, strideA, b.Value, (int)bType, ldb, strideB,
            &beta, c.Value, (int)cType, ldc, strideC, batchCount, (int)computeType, DefaultAlgorithm),
            nameof(CublasApi.cublasGemmStridedBatchedEx));
    }

    private static void RequireFloatScalars(CublasComputeType computeType)
    {
        // alpha/beta are read with the compute type's scale type; these overloads pass floats.
        if (computeType is CublasComputeType.Compute16F or CublasComputeType.Compute16FPedantic
            or CublasComputeType.Compute64F or CublasComputeType.Compute64FPedantic or CublasComputeType.Compute32I)
        {
            throw new ArgumentException($"compute type {computeType} does not take fp32 alpha/beta", nameof(computeType));
        }
    }

    public void Dispose()
    {
        if (_handle == IntPtr.Zero)
        {
            return;
        }

        var handle = _handle;
        _handle = IntPtr.Zero;
        Context.MakeCurrent();
        CublasApi.Check(CublasApi.cublasDestroy_v2(handle), nameof(CublasApi.cublasDestroy_v2));
    }
}
