using System.Runtime.InteropServices;

namespace Rose.Native.Interop;

/// <summary>Raw CUDA driver API (libcuda). Return values are CUresult; 0 is CUDA_SUCCESS.</summary>
public static unsafe partial class CuDriver
{
    private const string Lib = CudaLibrarySearch.Driver;

    static CuDriver() => CudaLibraries.EnsureResolver();

    public const int CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1;
    public const int CU_DEVICE_ATTRIBUTE_WARP_SIZE = 10;
    public const int CU_DEVICE_ATTRIBUTE_CLOCK_RATE = 13;
    public const int CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE = 36;
    public const int CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH = 37;
    public const int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
    public const int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    public const int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
    public const int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
    public const uint CU_STREAM_NON_BLOCKING = 1;
    public const uint CU_EVENT_DEFAULT = 0;
    public const uint CU_EVENT_DISABLE_TIMING = 2;

    [LibraryImport(Lib)] public static partial int cuInit(uint flags);
    [LibraryImport(Lib)] public static partial int cuDriverGetVersion(int* version);
    [LibraryImport(Lib)] public static partial int cuDeviceGetCount(int* count);
    [LibraryImport(Lib)] public static partial int cuDeviceGet(int* device, int ordinal);
    [LibraryImport(Lib)] public static partial int cuDeviceGetName(byte* name, int length, int device);
    [LibraryImport(Lib)] public static partial int cuDeviceGetAttribute(int* value, int attribute, int device);
    [LibraryImport(Lib)] public static partial int cuDeviceTotalMem_v2(nuint* bytes, int device);
    [LibraryImport(Lib)] public static partial int cuDevicePrimaryCtxRetain(IntPtr* context, int device);
    [LibraryImport(Lib)] public static partial int cuDevicePrimaryCtxRelease_v2(int device);
    [LibraryImport(Lib)] public static partial int cuCtxSetCurrent(IntPtr context);
    [LibraryImport(Lib)] public static partial int cuCtxSynchronize();
    [LibraryImport(Lib)] public static partial int cuMemGetInfo_v2(nuint* free, nuint* total);

    [LibraryImport(Lib)] public static partial int cuModuleLoadData(IntPtr* module, void* image);
    [LibraryImport(Lib)] public static partial int cuModuleUnload(IntPtr module);
    [LibraryImport(Lib)] public static partial int cuModuleGetFunction(IntPtr* function, IntPtr module, byte* name);
    [LibraryImport(Lib)]
    public static partial int cuLaunchKernel(IntPtr function, uint gridX, uint gridY, uint gridZ,
        uint blockX, uint blockY, uint blockZ, uint sharedMemBytes, IntPtr stream, void** kernelParams, void** extra);

    [LibraryImport(Lib)] public static partial int cuMemAlloc_v2(ulong* devicePointer, nuint bytes);
    [LibraryImport(Lib)] public static partial int cuMemFree_v2(ulong devicePointer);
    [LibraryImport(Lib)] public static partial int cuMemAllocHost_v2(void** hostPointer, nuint bytes);
    [LibraryImport(Lib)] public static partial int cuMemFreeHost(void* hostPointer);
    [LibraryImport(Lib)] public static partial int cuMemsetD8_v2(ulong destination, byte value, nuint count);
    [LibraryImport(Lib)] public static partial int cuMemsetD32_v2(ulong destination, uint value, nuint count);
    [LibraryImport(Lib)] public static partial int cuMemsetD8Async(ulong destination, byte value, nuint count, IntPtr stream);
    [LibraryImport(Lib)] public static partial int cuMemsetD32Async(ulong destination, uint value, nuint count, IntPtr stream);
    [LibraryImport(Lib)] public static partial int cuMemcpyHtoD_v2(ulong destination, void* source, nuint bytes);
    [LibraryImport(Lib)] public static partial int cuMemcpyDtoH_v2(void* destination, ulong source, nuint bytes);
    [LibraryImport(Lib)] public static partial int cuMemcpyDtoD_v2(ulong destination, ulong source, nuint bytes);
    [LibraryImport(Lib)] public static partial int cuMemcpyHtoDAsync_v2(ulong destination, void* source, nuint bytes, IntPtr stream);
    [LibraryImport(Lib)] public static partial int cuMemcpyDtoHAsync_v2(void* destination, ulong source, nuint bytes, IntPtr stream);
    [LibraryImport(Lib)] public static partial int cuMemcpyDtoDAsync_v2(ulong destination, ulong source, nuint bytes, IntPtr stream);

    [LibraryImport(Lib)] public static partial int cuStreamCreate(IntPtr* stream, uint flags);
    [LibraryImport(Lib)] public static partial int cuStreamDestroy_v2(IntPtr stream);
    [LibraryImport(Lib)] public static partial int cuStreamSynchronize(IntPtr stream);
    [LibraryImport(Lib)] public static partial int cuEventCreate(IntPtr* cuEvent, uint flags);
    [LibraryImport(Lib)] public static partial int cuEventRecord(IntPtr cuEvent, IntPtr stream);
    [LibraryImport(Lib)] public static partial int cuEventSynchronize(IntPtr cuEvent);
    [LibraryImport(Lib)] public static partial int cuEventElapsedTime(float* milliseconds, IntPtr start, IntPtr end);
    [LibraryImport(Lib)] public static partial int cuEventDestroy_v2(IntPtr cuEvent);

    [LibraryImport(Lib)] public static partial int cuGetErrorName(int error, byte** name);
    [LibraryImport(Lib)] public static partial int cuGetErrorString(int error, byte** description);

    /// <summary>Throws a <see cref="CudaException"/> carrying the driver's error name and text.</summary>
    public static void Check(int result, string function)
    {
        if (result != 0)
        {
            throw Error(result, function);
        }
    }

    public static CudaException Error(int result, string function)
    {
        string name = $"CUresult {result}", text = "no description";
        byte* p = null;
        if (cuGetErrorName(result, &p) == 0 && p != null)
        {
            name = Marshal.PtrToStringUTF8((IntPtr)p) ?? name;
        }

        p = null;
        if (cuGetErrorString(result, &p) == 0 && p != null)
        {
            text = Marshal.PtrToStringUTF8((IntPtr)p) ?? text;
        }

        return new CudaException(CudaLibrarySearch.Driver, function, result, name, text);
    }
}
