// libcuda.so.1 for the CPU emulator: the driver API functions Rose binds (native/Rose.Native/
// Interop/CuDriver.cs), with one emulated device whose "device memory" is host memory. A device
// pointer is a host address, every stream operation completes before it returns, and a kernel
// launch runs the kernel file's g++ build (see fake_nvrtc.cpp) through its rose_emu_launch.
// Launches are serialized: an emulated block keeps its state in the module's statics.
// Fresh allocations are filled with 0xff bytes (NaN as floats) so a kernel or host path that reads
// memory it never wrote fails here as it might on a GPU, instead of seeing friendly zeros, and each
// ends (after rounding up to 256 bytes, as the driver's granularity does) at an inaccessible page, so
// an access past the end stops the process at the faulting instruction instead of going unnoticed.
// With ROSE_EMU_CENSUS=FILE it also counts what a run asks of the driver (see Census).
#include <dlfcn.h>
#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "emu_census.h"
#include "emu_image.h"

namespace
{
#include "prelude_text.inc"   // kPrelude, to recognise images built with another prelude

enum : int
{
    Success = 0, InvalidValue = 1, OutOfMemory = 2, InvalidImage = 200, InvalidHandle = 400, NotFound = 500,
    LaunchFailed = 719,
};

using LaunchFn = int (*)(void (*)(void**), const unsigned*, const unsigned*, unsigned, void**, char*, int);

struct Module
{
    void* library;
    LaunchFn launch;
};

struct Function
{
    Module* module;
    void (*entry)(void**);
    std::string name;
};

struct Event
{
    std::chrono::steady_clock::time_point at;
};

struct Allocation
{
    size_t bytes;
    char* mapping;
    size_t mapped;
};

std::atomic<long long> allocationsLeft{-1};   // device allocations that may still succeed; -1: no limit

std::mutex launchLock;
std::mutex allocationLock;
std::map<uintptr_t, Allocation> allocations;   // device and pinned host memory alike
size_t allocated = 0;
int contextToken, streamToken;

size_t DeviceMemory()
{
    const char* gib = getenv("ROSE_EMU_DEVICE_GIB");
    return (size_t)((gib && *gib ? atof(gib) : 16.0) * (double)(1ull << 30));
}

// The census (emu_census.h): what a run asked of the driver, written to
// $ROSE_EMU_CENSUS when the process exits and read in-process through rose_emu_census. It is for what
// costs time on a GPU however fast the kernels are, and which an emulator can count but not time:
// blocking calls (synchronizations; copies from or to pageable host memory, which the driver stages
// synchronously even when asked for an async copy; frees, which synchronize the device),
// allocations, and launches (amount: blocks), per kernel.
struct DriverCensus : rose_emu::Census
{
    ~DriverCensus()
    {
        const char* path = getenv("ROSE_EMU_CENSUS");
        if (!path || !*path) return;
        if (FILE* file = fopen(path, "w"))
        {
            fputs(Text().c_str(), file);
            fclose(file);
        }
    }
};

DriverCensus census;

// Caller holds allocationLock.
void* Allocate(size_t bytes)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t rounded = (bytes + 255) / 256 * 256;
    const size_t mapped = (rounded + page - 1) / page * page + page;
    auto* mapping = (char*)mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED) return nullptr;
    mprotect(mapping + mapped - page, page, PROT_NONE);
    char* p = mapping + mapped - page - rounded;
    memset(p, 0xff, bytes);
    allocations[(uintptr_t)p] = Allocation{bytes, mapping, mapped};
    return p;
}

// Caller holds allocationLock; false when p is not an allocation.
bool Release(void* p, size_t* bytes)
{
    auto it = allocations.find((uintptr_t)p);
    if (it == allocations.end()) return false;
    *bytes = it->second.bytes;
    munmap(it->second.mapping, it->second.mapped);
    allocations.erase(it);
    return true;
}

// Whether host memory [p, p + bytes) lies in one pinned allocation (page-locked: a GPU copies it
// asynchronously; anything else the driver stages through its own buffer first).
bool Pinned(const void* p, size_t bytes)
{
    std::lock_guard<std::mutex> guard(allocationLock);
    auto it = allocations.upper_bound((uintptr_t)p);
    if (it == allocations.begin()) return false;
    --it;
    return (uintptr_t)p + bytes <= it->first + it->second.bytes;
}

const char* HostKind(const void* p, size_t bytes) { return Pinned(p, bytes) ? "pinned" : "pageable"; }

int CopyHtoD(uint64_t destination, const void* source, size_t bytes, const char* call)
{
    census.Add(std::string(call) + " from " + HostKind(source, bytes), (long long)bytes);
    memmove((void*)(uintptr_t)destination, source, bytes);
    return Success;
}

int CopyDtoH(void* destination, uint64_t source, size_t bytes, const char* call)
{
    census.Add(std::string(call) + " to " + HostKind(destination, bytes), (long long)bytes);
    memmove(destination, (const void*)(uintptr_t)source, bytes);
    return Success;
}

int CopyDtoD(uint64_t destination, uint64_t source, size_t bytes, const char* call)
{
    census.Add(call, (long long)bytes);
    memmove((void*)(uintptr_t)destination, (const void*)(uintptr_t)source, bytes);
    return Success;
}
} // namespace

extern "C"
{
int cuInit(unsigned) { return Success; }

int cuDriverGetVersion(int* version)
{
    *version = 13000;
    return Success;
}

int cuDeviceGetCount(int* count)
{
    *count = 1;
    return Success;
}

int cuDeviceGet(int* device, int ordinal)
{
    if (ordinal != 0) return InvalidValue;
    *device = 0;
    return Success;
}

int cuDeviceGetName(char* name, int length, int device)
{
    if (device != 0 || length <= 0) return InvalidValue;
    snprintf(name, (size_t)length, "Rose CPU emulator");
    return Success;
}

// The attributes Rose reads, with an H200's values so launch shapes and peak figures match it.
int cuDeviceGetAttribute(int* value, int attribute, int device)
{
    if (device != 0) return InvalidValue;
    switch (attribute)
    {
    case 1: *value = 1024; break;        // max threads per block
    case 8: *value = 48 * 1024; break;   // max shared memory per block
    case 10: *value = 32; break;         // warp size
    case 13: *value = 1980000; break;    // clock rate, kHz
    case 16: *value = 132; break;        // multiprocessors
    case 36: *value = 3201000; break;    // memory clock rate, kHz
    case 37: *value = 6144; break;       // memory bus width, bits
    case 75: *value = 9; break;          // compute capability
    case 76: *value = 0; break;
    case 97: *value = 227 * 1024; break; // max shared memory per block, opt-in
    default: *value = 0; break;
    }
    return Success;
}

int cuDeviceTotalMem_v2(size_t* bytes, int device)
{
    if (device != 0) return InvalidValue;
    *bytes = DeviceMemory();
    return Success;
}

int cuDevicePrimaryCtxRetain(void** context, int device)
{
    if (device != 0) return InvalidValue;
    *context = &contextToken;
    return Success;
}

int cuDevicePrimaryCtxRelease_v2(int device) { return device == 0 ? Success : InvalidValue; }
int cuCtxSetCurrent(void*) { return Success; }
int cuCtxSynchronize()
{
    census.Add("sync context");
    return Success;
}

int cuMemGetInfo_v2(size_t* free, size_t* total)
{
    std::lock_guard<std::mutex> guard(allocationLock);
    *total = DeviceMemory();
    *free = allocated < *total ? *total - allocated : 0;
    return Success;
}

int cuModuleLoadData(void** module, const void* image)
{
    const char* library;
    uint64_t size, preludeHash;
    if (!image || !rose_emu_image::Unwrap(image, &library, &size, &preludeHash))
    {
        fprintf(stderr, "rose emulator: cuModuleLoadData was given an image its NVRTC did not build\n");
        return InvalidImage;
    }
    if (preludeHash != rose_emu_image::Hash(kPrelude, sizeof kPrelude - 1))
    {
        fprintf(stderr, "rose emulator: a kernel image built by another version of the emulator (from a kernel cache?); "
                        "point XDG_CACHE_HOME and ROSE_EMU_CACHE at an empty folder\n");
        return InvalidImage;
    }
    char path[] = "/tmp/rose-emu-module-XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0) return InvalidImage;
    const bool written = write(fd, library, size) == (ssize_t)size;
    close(fd);
    void* handle = written ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : nullptr;
    unlink(path);
    if (!handle)
    {
        fprintf(stderr, "rose emulator: cannot load a kernel module: %s\n", dlerror());
        return InvalidImage;
    }
    auto launch = reinterpret_cast<LaunchFn>(dlsym(handle, "rose_emu_launch"));
    if (!launch)
    {
        dlclose(handle);
        return InvalidImage;
    }
    *module = new Module{handle, launch};
    return Success;
}

int cuModuleUnload(void* module)
{
    if (!module) return InvalidHandle;
    auto* m = static_cast<Module*>(module);
    std::lock_guard<std::mutex> guard(launchLock);
    dlclose(m->library);
    delete m;
    return Success;
}

int cuModuleGetFunction(void** function, void* module, const char* name)
{
    if (!module || !name) return InvalidHandle;
    auto* m = static_cast<Module*>(module);
    auto entry = reinterpret_cast<void (*)(void**)>(dlsym(m->library, ("rose_emu_entry_" + std::string(name)).c_str()));
    if (!entry) return NotFound;
    *function = new Function{m, entry, name};
    return Success;
}

int cuLaunchKernel(void* function, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
    unsigned sharedBytes, void*, void** params, void** extra)
{
    if (!function) return InvalidHandle;
    auto* f = static_cast<Function*>(function);
    // The limits a real launch is refused for.
    if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || (uint64_t)bx * by * bz > 1024 || gy > 65535 ||
        gz > 65535 || bz > 64 || sharedBytes > 48 * 1024 || extra)
    {
        fprintf(stderr, "rose emulator: kernel %s refused: grid (%u,%u,%u) block (%u,%u,%u) shared %u B\n", f->name.c_str(), gx, gy,
            gz, bx, by, bz, sharedBytes);
        return InvalidValue;
    }
    const unsigned grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
    char error[512] = "";
    census.Add("launch " + f->name, (long long)gx * gy * gz);
    std::lock_guard<std::mutex> guard(launchLock);
    if (f->module->launch(f->entry, grid, block, sharedBytes, params, error, sizeof error) != 0)
    {
        fprintf(stderr, "rose emulator: kernel %s grid (%u,%u,%u) block (%u,%u,%u): %s\n", f->name.c_str(), gx, gy, gz, bx, by, bz, error);
        return LaunchFailed;
    }
    return Success;
}

// Fault injection for tests (not a CUDA function): after `count` more device allocations, every one
// fails with CUDA_ERROR_OUT_OF_MEMORY; a negative count lifts the limit.
__attribute__((visibility("default"))) void rose_emu_fail_allocations_after(long long count)
{
    allocationsLeft = count < 0 ? -1 : count;
}

// The census so far (not a CUDA function): copies its text, NUL-terminated, into `buffer` when it fits
// in `size` bytes and returns the text's length either way; rose_emu_census_reset starts it afresh.
__attribute__((visibility("default"))) long long rose_emu_census(char* buffer, long long size)
{
    return census.CopyText(buffer, size);
}

__attribute__((visibility("default"))) void rose_emu_census_reset() { census.Reset(); }

int cuMemAlloc_v2(uint64_t* pointer, size_t bytes)
{
    if (bytes == 0) return InvalidValue;
    std::lock_guard<std::mutex> guard(allocationLock);
    if (allocationsLeft == 0) return OutOfMemory;
    if (allocationsLeft > 0) allocationsLeft--;
    if (allocated + bytes > DeviceMemory()) return OutOfMemory;
    void* p = Allocate(bytes);
    if (!p) return OutOfMemory;
    census.Add("alloc device", (long long)bytes);
    allocated += bytes;
    *pointer = (uint64_t)(uintptr_t)p;
    return Success;
}

int cuMemFree_v2(uint64_t pointer)
{
    if (pointer == 0) return Success;
    std::lock_guard<std::mutex> guard(allocationLock);
    size_t bytes;
    if (!Release((void*)(uintptr_t)pointer, &bytes)) return InvalidValue;
    census.Add("free device (synchronizes)", (long long)bytes);
    allocated -= bytes;
    return Success;
}

int cuMemAllocHost_v2(void** pointer, size_t bytes)
{
    std::lock_guard<std::mutex> guard(allocationLock);
    void* p = Allocate(bytes == 0 ? 1 : bytes);
    if (!p) return OutOfMemory;
    census.Add("alloc pinned host", (long long)bytes);
    *pointer = p;
    return Success;
}

int cuMemFreeHost(void* pointer)
{
    std::lock_guard<std::mutex> guard(allocationLock);
    size_t bytes;
    return pointer == nullptr || Release(pointer, &bytes) ? Success : InvalidValue;
}

int cuMemsetD8_v2(uint64_t destination, unsigned char value, size_t count)
{
    memset((void*)(uintptr_t)destination, value, count);
    return Success;
}

int cuMemsetD32_v2(uint64_t destination, unsigned value, size_t count)
{
    auto* p = (unsigned*)(uintptr_t)destination;
    for (size_t i = 0; i < count; i++) p[i] = value;
    return Success;
}

int cuMemsetD8Async(uint64_t destination, unsigned char value, size_t count, void*) { return cuMemsetD8_v2(destination, value, count); }
int cuMemsetD32Async(uint64_t destination, unsigned value, size_t count, void*) { return cuMemsetD32_v2(destination, value, count); }

int cuMemcpyHtoD_v2(uint64_t d, const void* s, size_t n) { return CopyHtoD(d, s, n, "copy HtoD (blocks)"); }
int cuMemcpyDtoH_v2(void* d, uint64_t s, size_t n) { return CopyDtoH(d, s, n, "copy DtoH (blocks)"); }
int cuMemcpyDtoD_v2(uint64_t d, uint64_t s, size_t n) { return CopyDtoD(d, s, n, "copy DtoD"); }
int cuMemcpyHtoDAsync_v2(uint64_t d, const void* s, size_t n, void*) { return CopyHtoD(d, s, n, "copy HtoD async"); }
int cuMemcpyDtoHAsync_v2(void* d, uint64_t s, size_t n, void*) { return CopyDtoH(d, s, n, "copy DtoH async"); }
int cuMemcpyDtoDAsync_v2(uint64_t d, uint64_t s, size_t n, void*) { return CopyDtoD(d, s, n, "copy DtoD async"); }

int cuStreamCreate(void** stream, unsigned)
{
    *stream = &streamToken;
    return Success;
}

int cuStreamDestroy_v2(void*) { return Success; }
int cuStreamSynchronize(void*)
{
    census.Add("sync stream");
    return Success;
}

int cuEventCreate(void** event, unsigned)
{
    *event = new Event{std::chrono::steady_clock::now()};
    return Success;
}

int cuEventRecord(void* event, void*)
{
    if (!event) return InvalidHandle;
    static_cast<Event*>(event)->at = std::chrono::steady_clock::now();
    return Success;
}

int cuEventSynchronize(void* event)
{
    census.Add("sync event");
    return event ? Success : InvalidHandle;
}

int cuEventElapsedTime(float* milliseconds, void* start, void* end)
{
    if (!start || !end) return InvalidHandle;
    *milliseconds = std::chrono::duration<float, std::milli>(static_cast<Event*>(end)->at - static_cast<Event*>(start)->at).count();
    return Success;
}

int cuEventDestroy_v2(void* event)
{
    delete static_cast<Event*>(event);
    return Success;
}

int cuGetErrorName(int error, const char** name)
{
    switch (error)
    {
    case Success: *name = "CUDA_SUCCESS"; break;
    case InvalidValue: *name = "CUDA_ERROR_INVALID_VALUE"; break;
    case OutOfMemory: *name = "CUDA_ERROR_OUT_OF_MEMORY"; break;
    case InvalidImage: *name = "CUDA_ERROR_INVALID_IMAGE"; break;
    case InvalidHandle: *name = "CUDA_ERROR_INVALID_HANDLE"; break;
    case NotFound: *name = "CUDA_ERROR_NOT_FOUND"; break;
    case LaunchFailed: *name = "CUDA_ERROR_LAUNCH_FAILED"; break;
    default: *name = nullptr; return InvalidValue;
    }
    return Success;
}

int cuGetErrorString(int error, const char** description)
{
    switch (error)
    {
    case Success: *description = "no error"; break;
    case InvalidValue: *description = "invalid argument"; break;
    case OutOfMemory: *description = "out of memory (emulated device)"; break;
    case InvalidImage: *description = "device kernel image is invalid (not built by the emulator's NVRTC)"; break;
    case InvalidHandle: *description = "invalid resource handle"; break;
    case NotFound: *description = "named symbol not found"; break;
    case LaunchFailed: *description = "unspecified launch failure (the emulator printed why)"; break;
    default: *description = nullptr; return InvalidValue;
    }
    return Success;
}
}
