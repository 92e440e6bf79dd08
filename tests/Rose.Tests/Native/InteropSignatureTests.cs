using System.Reflection;
using System.Runtime.InteropServices;
using NUnit.Framework;
using Rose.Native;
using Rose.Native.Interop;

namespace Rose.Tests.Native;

/// <summary>
/// Pins every P/Invoke of Rose.Native to its C prototype, copied from the CUDA 13.0 headers
/// (cuda.h, cublas_api.h 13.0, cusolverDn.h / cusolver_common.h 12.0, nvrtc.h): the exported
/// name and, per parameter, the x86-64 argument class (32-bit int, 64-bit int or pointer, byte,
/// float). A wrong width or a missing _v2 crashes or corrupts on the GPU and nowhere else, so it
/// is caught here, on the CPU. A new binding fails until its prototype is added to the table.
/// </summary>
[TestFixture]
public sealed class InteropSignatureTests
{
    private static readonly Dictionary<string, string> Prototypes = new(StringComparer.Ordinal)
    {
        // cuda.h (driver API, CUDA 13.0); names after its #defines (cuMemAlloc -> cuMemAlloc_v2 ...).
        ["cuInit"] = "unsigned int",
        ["cuDriverGetVersion"] = "int*",
        ["cuDeviceGetCount"] = "int*",
        ["cuDeviceGet"] = "CUdevice*, int",
        ["cuDeviceGetName"] = "char*, int, CUdevice",
        ["cuDeviceGetAttribute"] = "int*, CUdevice_attribute, CUdevice",
        ["cuDeviceTotalMem_v2"] = "size_t*, CUdevice",
        ["cuDevicePrimaryCtxRetain"] = "CUcontext*, CUdevice",
        ["cuDevicePrimaryCtxRelease_v2"] = "CUdevice",
        ["cuCtxSetCurrent"] = "CUcontext",
        ["cuCtxSynchronize"] = "",
        ["cuMemGetInfo_v2"] = "size_t*, size_t*",
        ["cuModuleLoadData"] = "CUmodule*, const void*",
        ["cuModuleUnload"] = "CUmodule",
        ["cuModuleGetFunction"] = "CUfunction*, CUmodule, const char*",
        ["cuLaunchKernel"] = "CUfunction, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int, CUstream, void**, void**",
        ["cuMemAlloc_v2"] = "CUdeviceptr*, size_t",
        ["cuMemFree_v2"] = "CUdeviceptr",
        ["cuMemAllocHost_v2"] = "void**, size_t",
        ["cuMemFreeHost"] = "void*",
        ["cuMemsetD8_v2"] = "CUdeviceptr, unsigned char, size_t",
        ["cuMemsetD32_v2"] = "CUdeviceptr, unsigned int, size_t",
        ["cuMemsetD8Async"] = "CUdeviceptr, unsigned char, size_t, CUstream",
        ["cuMemsetD32Async"] = "CUdeviceptr, unsigned int, size_t, CUstream",
        ["cuMemcpyHtoD_v2"] = "CUdeviceptr, const void*, size_t",
        ["cuMemcpyDtoH_v2"] = "void*, CUdeviceptr, size_t",
        ["cuMemcpyDtoD_v2"] = "CUdeviceptr, CUdeviceptr, size_t",
        ["cuMemcpyHtoDAsync_v2"] = "CUdeviceptr, const void*, size_t, CUstream",
        ["cuMemcpyDtoHAsync_v2"] = "void*, CUdeviceptr, size_t, CUstream",
        ["cuMemcpyDtoDAsync_v2"] = "CUdeviceptr, CUdeviceptr, size_t, CUstream",
        ["cuStreamCreate"] = "CUstream*, unsigned int",
        ["cuStreamDestroy_v2"] = "CUstream",
        ["cuStreamSynchronize"] = "CUstream",
        ["cuEventCreate"] = "CUevent*, unsigned int",
        ["cuEventRecord"] = "CUevent, CUstream",
        ["cuEventSynchronize"] = "CUevent",
        ["cuEventElapsedTime"] = "float*, CUevent, CUevent",
        ["cuEventDestroy_v2"] = "CUevent",
        ["cuGetErrorName"] = "CUresult, const char**",
        ["cuGetErrorString"] = "CUresult, const char**",

        // cublas_api.h (cuBLAS 13.0).
        ["cublasCreate_v2"] = "cublasHandle_t*",
        ["cublasDestroy_v2"] = "cublasHandle_t",
        ["cublasSetStream_v2"] = "cublasHandle_t, cudaStream_t",
        ["cublasSetMathMode"] = "cublasHandle_t, cublasMath_t",
        ["cublasGetVersion_v2"] = "cublasHandle_t, int*",
        ["cublasSgemm_v2"] = "cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const float*, const float*, int, const float*, int, const float*, float*, int",
        ["cublasGemmEx"] = "cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*, const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*, cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t",
        ["cublasGemmStridedBatchedEx"] = "cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*, const void*, cudaDataType, int, long long int, const void*, cudaDataType, int, long long int, const void*, void*, cudaDataType, int, long long int, int, cublasComputeType_t, cublasGemmAlgo_t",

        // cusolver_common.h / cusolverDn.h (cuSOLVER 12.0).
        ["cusolverGetVersion"] = "int*",
        ["cusolverGetProperty"] = "libraryPropertyType, int*",
        ["cusolverDnCreate"] = "cusolverDnHandle_t*",
        ["cusolverDnDestroy"] = "cusolverDnHandle_t",
        ["cusolverDnSetStream"] = "cusolverDnHandle_t, cudaStream_t",
        ["cusolverDnSpotrf_bufferSize"] = "cusolverDnHandle_t, cublasFillMode_t, int, float*, int, int*",
        ["cusolverDnSpotrf"] = "cusolverDnHandle_t, cublasFillMode_t, int, float*, int, float*, int, int*",
        ["cusolverDnSpotri_bufferSize"] = "cusolverDnHandle_t, cublasFillMode_t, int, float*, int, int*",
        ["cusolverDnSpotri"] = "cusolverDnHandle_t, cublasFillMode_t, int, float*, int, float*, int, int*",
        ["cusolverDnSpotrs"] = "cusolverDnHandle_t, cublasFillMode_t, int, int, const float*, int, float*, int, int*",
        ["cusolverDnXtrtri_bufferSize"] = "cusolverDnHandle_t, cublasFillMode_t, cublasDiagType_t, int64_t, cudaDataType, void*, int64_t, size_t*, size_t*",
        ["cusolverDnXtrtri"] = "cusolverDnHandle_t, cublasFillMode_t, cublasDiagType_t, int64_t, cudaDataType, void*, int64_t, void*, size_t, void*, size_t, int*",

        // nvrtc.h (NVRTC 13.0).
        ["nvrtcVersion"] = "int*, int*",
        ["nvrtcGetNumSupportedArchs"] = "int*",
        ["nvrtcGetSupportedArchs"] = "int*",
        ["nvrtcCreateProgram"] = "nvrtcProgram*, const char*, const char*, int, const char* const*, const char* const*",
        ["nvrtcCompileProgram"] = "nvrtcProgram, int, const char* const*",
        ["nvrtcGetProgramLogSize"] = "nvrtcProgram, size_t*",
        ["nvrtcGetProgramLog"] = "nvrtcProgram, char*",
        ["nvrtcGetPTXSize"] = "nvrtcProgram, size_t*",
        ["nvrtcGetPTX"] = "nvrtcProgram, char*",
        ["nvrtcGetCUBINSize"] = "nvrtcProgram, size_t*",
        ["nvrtcGetCUBIN"] = "nvrtcProgram, char*",
        ["nvrtcDestroyProgram"] = "nvrtcProgram*",
        ["nvrtcGetErrorString"] = "nvrtcResult",
    };

    /// <summary>Functions whose C return type is not the library's 32-bit status enum.</summary>
    private static readonly Dictionary<string, string> PointerReturns = new(StringComparer.Ordinal)
    {
        ["nvrtcGetErrorString"] = "const char*",
    };

    private static readonly HashSet<string> Int32Types = new(StringComparer.Ordinal)
    {
        "int", "unsigned int", "CUdevice", "CUresult", "CUdevice_attribute", "cublasOperation_t", "cublasMath_t",
        "cudaDataType", "cublasComputeType_t", "cublasGemmAlgo_t", "cublasFillMode_t", "cublasDiagType_t",
        "libraryPropertyType", "nvrtcResult",
    };

    private static readonly HashSet<string> Int64Types = new(StringComparer.Ordinal)
    {
        "size_t", "int64_t", "long long int", "CUdeviceptr", "CUcontext", "CUmodule", "CUfunction", "CUstream", "CUevent",
        "cudaStream_t", "cublasHandle_t", "cusolverDnHandle_t", "nvrtcProgram",
    };

    private static IEnumerable<MethodInfo> Bindings() =>
        new[] { typeof(CuDriver), typeof(CublasApi), typeof(CusolverApi), typeof(NvrtcApi) }
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
            .Where(m => m.GetCustomAttribute<LibraryImportAttribute>() is not null);

    /// <summary>The x86-64 argument class of a C type as written in the headers.</summary>
    private static string CClass(string type)
    {
        type = type.Trim();
        if (type.EndsWith('*')) return "i64";
        if (type.StartsWith("const ", StringComparison.Ordinal)) type = type["const ".Length..];
        if (Int32Types.Contains(type)) return "i32";
        if (Int64Types.Contains(type)) return "i64";
        if (type == "unsigned char") return "i8";
        if (type == "float") return "f32";
        throw new ArgumentException($"no argument class for C type '{type}'");
    }

    /// <summary>The x86-64 argument class of a managed parameter type.</summary>
    private static string ManagedClass(Type type)
    {
        if (type.IsPointer || type == typeof(IntPtr) || type == typeof(UIntPtr) || type == typeof(long) || type == typeof(ulong)) return "i64";
        if (type == typeof(int) || type == typeof(uint)) return "i32";
        if (type == typeof(byte)) return "i8";
        if (type == typeof(float)) return "f32";
        throw new ArgumentException($"no argument class for managed type {type}");
    }

    private static string[] Split(string prototype) =>
        prototype.Length == 0 ? [] : prototype.Split(", ");

    [Test]
    public void EveryBindingHasAHeaderPrototype()
    {
        var bound = Bindings().Select(m => EntryPoint(m)).ToHashSet(StringComparer.Ordinal);
        Assert.That(bound, Is.EquivalentTo(Prototypes.Keys), "bindings without a prototype here, or prototypes without a binding");
    }

    [Test]
    public void ParameterCountsAndWidthsMatchTheHeaders()
    {
        var mismatches = new List<string>();
        foreach (var method in Bindings())
        {
            var name = EntryPoint(method);
            if (!Prototypes.TryGetValue(name, out var prototype)) continue; // reported by EveryBindingHasAHeaderPrototype
            var expected = Split(prototype).Select(CClass).ToArray();
            var actual = method.GetParameters().Select(p => ManagedClass(p.ParameterType)).ToArray();
            if (!expected.SequenceEqual(actual))
            {
                mismatches.Add($"{name}: header ({string.Join(", ", expected)}) vs binding ({string.Join(", ", actual)})");
            }

            var returns = PointerReturns.TryGetValue(name, out var cReturn) ? CClass(cReturn) : "i32";
            if (ManagedClass(method.ReturnType) != returns)
            {
                mismatches.Add($"{name}: returns {method.ReturnType}, header returns a {returns}");
            }
        }

        Assert.That(mismatches, Is.Empty);
    }

    [Test]
    public void BindingsUseThePlatformCallingConvention()
    {
        foreach (var method in Bindings())
        {
            var import = method.GetCustomAttribute<LibraryImportAttribute>()!;
            Assert.That(import.SetLastError, Is.False, method.Name);
            Assert.That(method.GetCustomAttribute<UnmanagedCallConvAttribute>(), Is.Null, $"{method.Name}: the headers declare no convention on x86-64");
        }
    }

    [Test]
    public void EnumValuesMatchTheHeaders()
    {
        // library_types.h (cudaDataType_t)
        Assert.That((int)CudaDataType.R32F, Is.EqualTo(0));
        Assert.That((int)CudaDataType.R64F, Is.EqualTo(1));
        Assert.That((int)CudaDataType.R16F, Is.EqualTo(2));
        Assert.That((int)CudaDataType.R8I, Is.EqualTo(3));
        Assert.That((int)CudaDataType.R32I, Is.EqualTo(10));
        Assert.That((int)CudaDataType.R16BF, Is.EqualTo(14));
        // cublas_api.h
        Assert.That((int)CublasComputeType.Compute16F, Is.EqualTo(64));
        Assert.That((int)CublasComputeType.Compute16FPedantic, Is.EqualTo(65));
        Assert.That((int)CublasComputeType.Compute32F, Is.EqualTo(68));
        Assert.That((int)CublasComputeType.Compute32FPedantic, Is.EqualTo(69));
        Assert.That((int)CublasComputeType.Compute64F, Is.EqualTo(70));
        Assert.That((int)CublasComputeType.Compute64FPedantic, Is.EqualTo(71));
        Assert.That((int)CublasComputeType.Compute32I, Is.EqualTo(72));
        Assert.That((int)CublasComputeType.Compute32FFast16F, Is.EqualTo(74));
        Assert.That((int)CublasComputeType.Compute32FFast16BF, Is.EqualTo(75));
        Assert.That((int)CublasComputeType.Compute32FFastTF32, Is.EqualTo(77));
        Assert.That((int)CublasOperation.None, Is.EqualTo(0));
        Assert.That((int)CublasOperation.Transpose, Is.EqualTo(1));
        Assert.That((int)CublasOperation.ConjugateTranspose, Is.EqualTo(2));
        Assert.That((int)CublasMathMode.Default, Is.EqualTo(0));
        Assert.That((int)CublasMathMode.Pedantic, Is.EqualTo(2));
        Assert.That((int)CublasMathMode.Tf32TensorOp, Is.EqualTo(3));
        Assert.That((int)CublasMathMode.DisallowReducedPrecisionReduction, Is.EqualTo(16));
        Assert.That((int)FillMode.Lower, Is.EqualTo(0)); // CUBLAS_FILL_MODE_LOWER
        Assert.That((int)FillMode.Upper, Is.EqualTo(1));
        // cusolver_common.h uses library_types.h's libraryPropertyType: MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL.
        Assert.That(new[] { CusolverApi.MAJOR_VERSION, CusolverApi.MINOR_VERSION, CusolverApi.PATCH_LEVEL }, Is.EqualTo(new[] { 0, 1, 2 }));
        // cuda.h
        Assert.That(CuDriver.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, Is.EqualTo(1));
        Assert.That(CuDriver.CU_DEVICE_ATTRIBUTE_WARP_SIZE, Is.EqualTo(10));
        Assert.That(CuDriver.CU_DEVICE_ATTRIBUTE_CLOCK_RATE, Is.EqualTo(13));
        Assert.That(CuDriver.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, Is.EqualTo(16));
        Assert.That(CuDriver.CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, Is.EqualTo(36));
        Assert.That(CuDriver.CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, Is.EqualTo(37));
        Assert.That(CuDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, Is.EqualTo(75));
        Assert.That(CuDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, Is.EqualTo(76));
        Assert.That(CuDriver.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, Is.EqualTo(97));
        Assert.That(CuDriver.CU_STREAM_NON_BLOCKING, Is.EqualTo(1u));
        Assert.That(CuDriver.CU_EVENT_DEFAULT, Is.EqualTo(0u));
        Assert.That(CuDriver.CU_EVENT_DISABLE_TIMING, Is.EqualTo(2u));
        // nvrtc.h
        Assert.That(NvrtcApi.NVRTC_ERROR_COMPILATION, Is.EqualTo(6));
    }

    private static string EntryPoint(MethodInfo method) =>
        method.GetCustomAttribute<LibraryImportAttribute>()!.EntryPoint ?? method.Name;
}
