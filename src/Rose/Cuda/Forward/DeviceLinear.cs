using Rose.Modeling;
using Rose.Native;
using Rose.SafeTensors;

namespace Rose.Cuda.Forward;

/// <summary>A linear layer on the device: W [OutFeatures × InFeatures] row-major in the compute
/// dtype, optional fp32 bias. y (fp32, tokens × out) = x (dtype, tokens × in) · Wᵀ, as the
/// column-major cuBLAS product yᵀ = W·xᵀ: op(A) = Wᵀ-as-stored (lda = in), B = xᵀ (ldb = in).</summary>
public sealed class DeviceLinear : IDisposable
{
    public DeviceLinear(CudaContext context, LinearWeight weight, DType dtype, PinnedStaging? staging = null)
        : this(context, weight.Weight, weight.OutFeatures, weight.InFeatures, weight.Bias, dtype, staging)
    {
    }

    public DeviceLinear(CudaContext context, ReadOnlySpan<float> weight, int outFeatures, int inFeatures, float[]? bias, DType dtype,
        PinnedStaging? staging = null)
    {
        DType = dtype;
        OutFeatures = outFeatures;
        InFeatures = inFeatures;
        Weight = Upload(context, weight, dtype, staging);
        try
        {
            Bias = bias is null ? null : CudaLayerWeights.UploadVector(context, bias, staging);
        }
        catch
        {
            Weight.Dispose();
            throw;
        }
    }

    public DType DType { get; }
    public int OutFeatures { get; }
    public int InFeatures { get; }
    public DeviceBuffer<byte> Weight { get; }
    public DeviceBuffer<float>? Bias { get; }

    /// <summary>Uploads fp32 values stored as <paramref name="dtype"/>, converted on the host by all
    /// cores (a 7B layer is 200M values, uploaded twice per layer by the device pipeline); with
    /// <paramref name="staging"/> straight into its pinned chunks, while the previous chunk moves.</summary>
    public static unsafe DeviceBuffer<byte> Upload(CudaContext context, ReadOnlySpan<float> values, DType dtype, PinnedStaging? staging = null)
    {
        int size = dtype.ElementSize();
        var buffer = DeviceBuffer<byte>.Allocate(context, (long)values.Length * size);
        try
        {
            if (staging is not null)
            {
                fixed (float* p = values)
                {
                    float* v = p;
                    int n = values.Length;
                    staging.Upload((long)n * size, buffer.Pointer, (offset, chunk) =>
                        ParallelConversion.FromSingle(dtype, new ReadOnlySpan<float>(v + offset / size, chunk.Length / size), chunk));
                }
                return buffer;
            }
            // In slices: a whole lm_head or embedding table can pass 2 GiB in the dtype (128k × 4096
            // fp32, 128k × 8192 bf16), more than one byte array or span holds.
            ConvertInSlices(values, dtype, UploadSliceValues, (offset, bytes) => buffer.CopyFrom(bytes, offset));
            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>Values per host conversion slice of an unstaged upload (256 MB of fp32).</summary>
    internal const int UploadSliceValues = 1 << 26;

    /// <summary>Converts <paramref name="values"/> to <paramref name="dtype"/> <paramref name="slice"/> values at a
    /// time and hands each slice's bytes to <paramref name="sink"/> with its byte offset in the whole.</summary>
    internal static void ConvertInSlices(ReadOnlySpan<float> values, DType dtype, int slice, Action<long, ReadOnlySpan<byte>> sink)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slice, 1);
        int size = dtype.ElementSize();
        var bytes = dtype == DType.F32 ? null : GC.AllocateUninitializedArray<byte>(Math.Min(values.Length, slice) * size);
        // long: start + slice may pass int.MaxValue on the last step.
        for (long start = 0; start < values.Length; start += slice)
        {
            int n = (int)Math.Min(slice, values.Length - start);
            var part = values.Slice((int)start, n);
            if (bytes is null)
                sink(start * size, System.Runtime.InteropServices.MemoryMarshal.AsBytes(part));
            else
            {
                ParallelConversion.FromSingle(dtype, part, bytes.AsSpan(0, n * size));
                sink(start * size, bytes.AsSpan(0, n * size));
            }
        }
    }

    public static CudaDataType CudaType(DType dtype) => dtype switch
    {
        DType.F32 => CudaDataType.R32F,
        DType.BF16 => CudaDataType.R16BF,
        DType.F16 => CudaDataType.R16F,
        _ => throw new RoseException($"no cuBLAS type for {dtype.ToSafeTensorsString()}"),
    };

    /// <summary>y = x·Wᵀ for the <paramref name="rows"/> rows of W at <paramref name="weight"/> (a row
    /// offset is the caller's pointer arithmetic, as the chunked LM head does); x is tokens × inFeatures
    /// in <paramref name="dtype"/>, y is fp32 tokens × rows (ld = rows). Adds no bias (the caller folds
    /// it into the next kernel).</summary>
    public static void Gemm(CublasHandle blas, DType dtype, CUdeviceptr weight, int rows, int inFeatures,
        CUdeviceptr x, CUdeviceptr y, int tokens)
    {
        if (dtype == DType.F32)
            blas.Sgemm(CublasOperation.Transpose, CublasOperation.None, rows, tokens, inFeatures,
                1f, weight, inFeatures, x, inFeatures, 0f, y, rows);
        else
            blas.GemmEx(CublasOperation.Transpose, CublasOperation.None, rows, tokens, inFeatures,
                1f, weight, CudaType(dtype), inFeatures, x, CudaType(dtype), inFeatures,
                0f, y, CudaDataType.R32F, rows, CublasComputeType.Compute32F);
    }

    public void Apply(CublasHandle blas, CUdeviceptr x, CUdeviceptr y, int tokens) =>
        Gemm(blas, DType, Weight.Pointer, OutFeatures, InFeatures, x, y, tokens);

    public void Dispose()
    {
        Weight.Dispose();
        Bias?.Dispose();
    }
}
