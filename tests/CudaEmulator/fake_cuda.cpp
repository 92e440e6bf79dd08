// libcuda.so.1 for the CPU emulator: the driver API functions Rose binds (native/Rose.Native/
// Interop/CuDriver.cs), with one emulated device whose "device memory" is host memory. A device
// pointer is a host address, and a kernel launch runs the kernel file's g++ build (see
// fake_nvrtc.cpp) through its rose_emu_launch. Launches run one at a time, each over a few OS threads
// (Workers): an emulated block keeps its state in the module's statics, so every module is loaded once
// per worker and each worker runs its share of the blocks in its own copy.
// Streams are queues (see Stream): work queued on one runs, in order, only when the host must see it
// done (a synchronization, a synchronous copy, a free) or when queued work elsewhere waits for it, so
// a host that reads or refills a pinned buffer before its copy completed, or that forgets a
// synchronization between streams, gets the wrong bytes here as it could on a GPU.
// ROSE_EMU_STREAMS=eager runs every operation as it is queued instead.
// Device allocations come from one reserved arena, where the race check finds blocks of a launch
// sharing a location (emu_device_memory.h). Fresh allocations are filled with 0xff bytes (NaN as
// floats) so a kernel or host path that reads memory it never wrote fails here as it might on a GPU,
// instead of seeing friendly zeros, and each ends (after rounding up to 256 bytes, as the driver's
// granularity does) at an inaccessible page, so an access past the end stops the process at the
// faulting instruction instead of going unnoticed.
// With ROSE_EMU_CENSUS=FILE it also counts what a run asks of the driver (see Census).
#include <dlfcn.h>
#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "emu_census.h"
#include "emu_device_memory.h"
#include "emu_image.h"
#include "emu_threads.h"

namespace
{
#include "prelude_text.inc"   // kPrelude, to recognise images built with another prelude

enum : int
{
    Success = 0, InvalidValue = 1, OutOfMemory = 2, InvalidImage = 200, InvalidContext = 201, InvalidHandle = 400, NotFound = 500,
    NotReady = 600, LaunchOutOfResources = 701, LaunchFailed = 719,
};

// The race check's hooks for device memory, which a launch hands its module (see CheckDeviceAccess and
// WhereInDevice). The prelude declares the same types in its own text; HooksAgree holds the two together.
#define ROSE_EMU_DEVICE_ACCESS_FN int (*)(uintptr_t, size_t, int, uint32_t, uint32_t, uint32_t*, uint32_t*, int*, uint64_t*, uint64_t*)
#define ROSE_EMU_DEVICE_WHERE_FN void (*)(uintptr_t, uint64_t*, uint64_t*)
using DeviceAccessFn = ROSE_EMU_DEVICE_ACCESS_FN;
using DeviceWhereFn = ROSE_EMU_DEVICE_WHERE_FN;
#define ROSE_EMU_TEXT(...) #__VA_ARGS__
#define ROSE_EMU_EXPANDED_TEXT(...) ROSE_EMU_TEXT(__VA_ARGS__)

// Whether the prelude (compiled into every module) declares the hooks with the types the driver calls them
// with: a module built against other types would take its arguments from the wrong registers.
bool HooksAgree()
{
    static const bool agree = strstr(kPrelude, "using DeviceAccessFn = " ROSE_EMU_EXPANDED_TEXT(ROSE_EMU_DEVICE_ACCESS_FN) ";") &&
                              strstr(kPrelude, "using DeviceWhereFn = " ROSE_EMU_EXPANDED_TEXT(ROSE_EMU_DEVICE_WHERE_FN) ";");
    return agree;
}
using LaunchFn = int (*)(void (*)(void**), const unsigned*, const unsigned*, unsigned, void**, unsigned, unsigned, uintptr_t, uintptr_t,
    DeviceAccessFn, DeviceWhereFn, char*, int);

// One copy of a kernel module, with statics of its own (the block scheduler's state, `__shared__` arrays).
struct ModuleCopy
{
    void* library;
    LaunchFn launch;
};

struct Module
{
    std::vector<ModuleCopy> copies;   // one per worker
};

struct Function
{
    Module* module;
    std::vector<void (*)(void**)> entries;   // the kernel in each copy
    std::string name;
    std::vector<unsigned> argumentSizes;
    unsigned maxThreads;   // its __launch_bounds__; 0: none declared
};

std::atomic<int> workersSet{0};   // rose_emu_set_workers; 0: ROSE_EMU_WORKERS or the host's cores

// How many OS threads share out a launch's blocks: ROSE_EMU_WORKERS, else the host's cores (at most 8).
int Workers()
{
    if (int set = workersSet.load(); set > 0) return set;
    static const int workers = [] {
        const char* text = getenv("ROSE_EMU_WORKERS");
        int n = text && *text ? atoi(text) : (int)std::thread::hardware_concurrency();
        return n < 1 ? 1 : n > 8 ? 8 : n;
    }();
    return workers;
}

// A launch's arguments, copied when it is queued: the caller may reuse its own as soon as
// cuLaunchKernel returns.
struct Arguments
{
    std::vector<uint64_t> storage;
    std::vector<void*> pointers;

    Arguments(const std::vector<unsigned>& sizes, void** params)
    {
        std::vector<size_t> offsets;
        size_t words = 0;
        for (unsigned size : sizes)
        {
            offsets.push_back(words);
            words += (size + 15) / 16 * 2;   // 16-byte slots: no argument type needs more alignment
        }
        storage.resize(words + 2);
        auto* base = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(storage.data()) + 15) & ~(uintptr_t)15);
        for (size_t i = 0; i < sizes.size(); i++)
        {
            void* slot = base + offsets[i] * 8;
            memcpy(slot, params[i], sizes[i]);
            pointers.push_back(slot);
        }
    }
};

// An operation queued on a stream, with the work of other streams it must follow (the legacy
// default stream's implicit ordering against blocking streams).
struct Op
{
    uint64_t serial;
    std::vector<std::pair<struct Stream*, uint64_t>> after;
    std::function<int()> run;
};

struct Stream
{
    bool nonBlocking;
    std::deque<Op> pending;
};

struct Event
{
    std::chrono::steady_clock::time_point at;
    Stream* stream = nullptr;   // where it was last recorded
    uint64_t serial = 0;        // that record's operation
    uint64_t generation = 0;
    bool done = true;
};

struct Allocation
{
    size_t bytes;
    char* mapping;
    size_t mapped;
    bool host;    // pinned host memory (cuMemAllocHost), not device memory
    bool arena;   // mapped inside the device arena
};

std::atomic<long long> allocationsLeft{-1};   // device allocations that may still succeed; -1: no limit

std::mutex allocationLock;
std::map<uintptr_t, Allocation> allocations;   // device and pinned host memory alike
size_t allocated = 0;
int contextToken;

// A thread starts with no current context and the driver functions that work in the current one fail
// there, as on a GPU, until the thread calls cuCtxSetCurrent (CudaContext.MakeCurrent): work handed to
// another thread (a prefetch task, a thread-pool worker) must bind the context first.
thread_local void* currentContext = nullptr;

bool HasContext(const char* call)
{
    if (currentContext) return true;
    fprintf(stderr, "rose emulator: %s on a thread with no current context (CUDA_ERROR_INVALID_CONTEXT)\n", call);
    return false;
}

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

// Device memory comes from one arena (emu_device_memory.h), reserved at the first device allocation with
// room for the most device memory plus each allocation's rounding and guard page; an allocation the
// arena cannot place (it is full, or the system refused to reserve it) is mapped on its own, outside
// the race check's sight.
rose_emu_device::Arena arena;
bool arenaTried = false;

// Launches, counted; the one running (they run one at a time) stamps the race check's records with
// its low 16 bits, and whether it runs on several workers at once.
uint32_t launchSerial = 0;
uint32_t currentLaunch = 0;
bool currentLaunchShared = false;

// Caller holds allocationLock.
// The bounds check: an arena allocation's slack (its mapping before `start`, and past its end up to the
// guard page) marked as outside every allocation, or the mark cleared (emu_device_memory.h, MarkOutside).
void MarkSlack(uintptr_t start, const Allocation& a, bool outside)
{
    if (!a.arena) return;
    const uintptr_t mappingStart = (uintptr_t)a.mapping, guard = mappingStart + a.mapped - (size_t)sysconf(_SC_PAGESIZE);
    arena.MarkOutside(mappingStart, start, outside);
    arena.MarkOutside(start + a.bytes, guard, outside);
}

void* Allocate(size_t bytes, bool host)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t rounded = (bytes + 255) / 256 * 256;
    const size_t mapped = (rounded + page - 1) / page * page + page;
    if (!host && !arenaTried)
    {
        arenaTried = true;
        arena.Reserve(DeviceMemory() + DeviceMemory() / 4 + (1ull << 30));
    }
    char* mapping = !host && arena.Reserved() ? arena.Take(mapped) : nullptr;
    const bool inArena = mapping != nullptr;
    if (!mapping)
    {
        mapping = (char*)mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mapping == MAP_FAILED) return nullptr;
    }
    mprotect(mapping + mapped - page, page, PROT_NONE);
    char* p = mapping + mapped - page - rounded;
    memset(p, 0xff, bytes);
    const Allocation a{bytes, mapping, mapped, host, inArena};
    allocations[(uintptr_t)p] = a;
    MarkSlack((uintptr_t)p, a, true);
    return p;
}

// Caller holds allocationLock; false when p is not an allocation.
bool Release(void* p, size_t* bytes)
{
    auto it = allocations.find((uintptr_t)p);
    if (it == allocations.end()) return false;
    *bytes = it->second.bytes;
    MarkSlack(it->first, it->second, false);
    if (it->second.arena)
        arena.Give(it->second.mapping, it->second.mapped);
    else
        munmap(it->second.mapping, it->second.mapped);
    allocations.erase(it);
    return true;
}

// Caller holds allocationLock. The allocation starting last at or before p (which may end before it), or null.
const std::pair<const uintptr_t, Allocation>* AllocationFrom(uintptr_t p)
{
    auto it = allocations.upper_bound(p);
    return it == allocations.begin() ? nullptr : &*std::prev(it);
}

// Whether host memory [p, p + bytes) lies in one pinned allocation (page-locked: a GPU copies it
// asynchronously; anything else the driver stages through its own buffer first).
bool Pinned(const void* p, size_t bytes)
{
    std::lock_guard<std::mutex> guard(allocationLock);
    const auto* a = AllocationFrom((uintptr_t)p);
    return a && a->second.host && (uintptr_t)p + bytes <= a->first + a->second.bytes;
}

// The race check's hook that names where a device address lies, for a report: its offset in the allocation
// before it and that allocation's size (the address itself and 0 when there is none).
void WhereInDevice(uintptr_t p, uint64_t* offset, uint64_t* allocationBytes)
{
    *offset = p;
    *allocationBytes = 0;
    std::lock_guard<std::mutex> guard(allocationLock);
    if (const auto* a = AllocationFrom(p))
    {
        *offset = p - a->first;
        *allocationBytes = a->second.bytes;
    }
}

// Where a byte outside every allocation lies: past the end of the allocation whose mapping holds it (*before
// false, *distance its offset from that allocation's start) or *distance bytes before its start (*before true).
void WhereOutside(uintptr_t p, uint64_t* distance, uint64_t* allocationBytes, bool* before)
{
    *distance = 0;
    *allocationBytes = 0;
    *before = false;
    std::lock_guard<std::mutex> guard(allocationLock);
    auto next = allocations.upper_bound(p);
    if (next != allocations.end() && p >= (uintptr_t)next->second.mapping)
    {
        *distance = next->first - p;
        *allocationBytes = next->second.bytes;
        *before = true;
    }
    else if (const auto* a = AllocationFrom(p))
    {
        *distance = p - a->first;
        *allocationBytes = a->second.bytes;
    }
}

// The race check's hook for device memory: block `block` of the running launch accesses [p, p + n) (in
// the arena) from code offset `pc`. 0 when that races with nothing; 1 when it races, with the other
// access's block, code offset and kind, and where the byte lies (its offset in its allocation, and that
// size); 2 when it touches a byte outside every allocation, with where that lies (WhereOutside; *otherWrote
// 1 for before an allocation's start); 3 when it reads a byte nothing has written since its allocation,
// with where that lies.
int CheckDeviceAccess(uintptr_t p, size_t n, int write, uint32_t block, uint32_t pc, uint32_t* otherBlock, uint32_t* otherPc,
    int* otherWrote, uint64_t* offset, uint64_t* allocationBytes)
{
    rose_emu_device::Conflict conflict;
    if (arena.Access(p, n, write != 0, currentLaunch, block, pc, currentLaunchShared, &conflict)) return 0;
    if (conflict.outside)
    {
        bool before;
        WhereOutside(conflict.address, offset, allocationBytes, &before);
        *otherWrote = before ? 1 : 0;
        return 2;
    }
    if (conflict.unwritten)
    {
        WhereInDevice(conflict.address, offset, allocationBytes);
        return 3;
    }
    *otherBlock = conflict.other.block;
    *otherPc = conflict.other.pc;
    *otherWrote = conflict.otherWrote ? 1 : 0;
    WhereInDevice(conflict.address, offset, allocationBytes);
    return 1;
}

// ---- streams ----------------------------------------------------------------------------------
// The host thread that must see queued work done runs it: every queue and every run is under
// streamLock (recursive: a run may need another stream's work first). The legacy default stream
// (handle 0) follows CUDA's rules: its work waits for all earlier work in blocking streams, and work
// in a blocking stream waits for earlier work in it; non-blocking streams wait for nothing implicit.

std::recursive_mutex streamLock;

std::mutex lastLaunchErrorLock;
std::string lastLaunchError;   // rose_emu_last_launch_error
Stream legacy{false, {}};
std::set<Stream*> streams;      // created and not destroyed; destroyed ones are kept (queued work may name them)
uint64_t nextSerial = 1;
int deferredError = Success;    // the first failure of queued work, reported by the next synchronization

bool Eager()
{
    static const bool eager = [] {
        const char* mode = getenv("ROSE_EMU_STREAMS");
        return mode && strcmp(mode, "eager") == 0;
    }();
    return eager;
}

Stream* StreamOf(void* handle) { return handle ? static_cast<Stream*>(handle) : &legacy; }

// Caller holds streamLock. Runs the work queued on `s`, in order, through the operation numbered `through`.
void RunThrough(Stream* s, uint64_t through)
{
    while (!s->pending.empty() && s->pending.front().serial <= through)
    {
        Op op = std::move(s->pending.front());
        s->pending.pop_front();
        for (auto& [other, serial] : op.after) RunThrough(other, serial);
        const int status = op.run();
        if (status != Success && deferredError == Success) deferredError = status;
    }
}

// Caller holds streamLock. Every stream's work, as a device-wide synchronization waits for.
void RunAll()
{
    for (Stream* s : streams) RunThrough(s, UINT64_MAX);
    RunThrough(&legacy, UINT64_MAX);
}

// Caller holds streamLock. What cuStreamSynchronize(0) waits for: the legacy stream and, to be
// safe, every blocking stream's work (never less than a GPU waits for).
void RunLegacy()
{
    for (Stream* s : streams)
        if (!s->nonBlocking) RunThrough(s, UINT64_MAX);
    RunThrough(&legacy, UINT64_MAX);
}

int TakeDeferredError()
{
    const int error = deferredError;
    deferredError = Success;
    return error;
}

// Caller holds streamLock. Queues `run` on `s` and returns its number; eager mode runs it at once.
uint64_t Queue(Stream* s, std::function<int()> run)
{
    Op op{nextSerial++, {}, std::move(run)};
    if (s == &legacy)
    {
        for (Stream* b : streams)
            if (!b->nonBlocking && !b->pending.empty()) op.after.emplace_back(b, b->pending.back().serial);
    }
    else if (!s->nonBlocking && !legacy.pending.empty())
        op.after.emplace_back(&legacy, legacy.pending.back().serial);
    const uint64_t serial = op.serial;
    s->pending.push_back(std::move(op));
    if (Eager()) RunThrough(s, serial);
    return serial;
}

// Caller holds streamLock. Queues `run` on `s` and returns once it has run (a call the host waits for).
int QueueAndWait(Stream* s, std::function<int()> run)
{
    RunThrough(s, Queue(s, std::move(run)));
    return TakeDeferredError();
}

// The initialization check's record of a write by a copy, a memset or a library call (device memory only).
void MarkWritten(uint64_t p, size_t bytes)
{
    if (arena.Holds(p, bytes)) arena.MarkWritten(p, bytes);
}

// Whether [p, p + bytes) lies inside one allocation (device or pinned host memory); else *why says where it is.
bool InsideOneAllocation(uint64_t p, size_t bytes, std::string* why)
{
    if (bytes == 0) return true;
    std::lock_guard<std::mutex> guard(allocationLock);
    const auto* a = AllocationFrom((uintptr_t)p);
    if (a && p + bytes <= a->first + a->second.bytes) return true;
    char text[200];
    if (a && p < a->first + a->second.bytes)
        snprintf(text, sizeof text, "%zu bytes at byte %llu of a %zu-byte allocation runs past its end", bytes,
            (unsigned long long)(p - a->first), a->second.bytes);
    else
        snprintf(text, sizeof text, "%zu bytes at 0x%llx: no allocation holds that address", bytes, (unsigned long long)p);
    *why = text;
    return false;
}

// Whether [p, p + bytes) lies inside one allocation (device or pinned host memory), as the driver requires of
// a copy's or a memset's device range; otherwise it says so and the call fails with CUDA_ERROR_INVALID_VALUE
// (here it would write past the end unnoticed, up to the guard page).
bool InsideOneAllocation(uint64_t p, size_t bytes, const char* call)
{
    std::string why;
    if (InsideOneAllocation(p, bytes, &why)) return true;
    fprintf(stderr, "rose emulator: %s of %s\n", call, why.c_str());
    return false;
}

// Host to device: a pinned source is read when the copy runs, so the host must not refill it before
// then; a pageable one is staged (copied) at once, as the driver does before it returns.
int CopyHtoD(Stream* s, uint64_t destination, const void* source, size_t bytes, const char* call, bool wait)
{
    if (!HasContext(call)) return InvalidContext;
    if (!InsideOneAllocation(destination, bytes, call)) return InvalidValue;
    std::lock_guard<std::recursive_mutex> guard(streamLock);
    const bool pinned = Pinned(source, bytes);
    census.Add(std::string(call) + " from " + (pinned ? "pinned" : "pageable"), (long long)bytes);
    std::function<int()> copy;
    if (pinned)
        copy = [=] {
            memmove((void*)(uintptr_t)destination, source, bytes);
            MarkWritten(destination, bytes);
            return (int)Success;
        };
    else
    {
        auto staged = std::make_shared<std::vector<unsigned char>>((const unsigned char*)source, (const unsigned char*)source + bytes);
        copy = [=] {
            memmove((void*)(uintptr_t)destination, staged->data(), bytes);
            MarkWritten(destination, bytes);
            return (int)Success;
        };
    }
    if (wait) return QueueAndWait(s, std::move(copy));
    Queue(s, std::move(copy));
    return Success;
}

// Device to host: the host sees the bytes once the copy has run; a copy into pageable memory (and
// every synchronous one) returns only then. (In eager mode the NaN fill is overwritten at once.)
int CopyDtoH(Stream* s, void* destination, uint64_t source, size_t bytes, const char* call, bool wait)
{
    if (!HasContext(call)) return InvalidContext;
    if (!InsideOneAllocation(source, bytes, call)) return InvalidValue;
    std::lock_guard<std::recursive_mutex> guard(streamLock);
    const bool pinned = Pinned(destination, bytes);
    census.Add(std::string(call) + " to " + (pinned ? "pinned" : "pageable"), (long long)bytes);
    auto copy = [=] { memmove(destination, (const void*)(uintptr_t)source, bytes); return (int)Success; };
    if (wait || !pinned) return QueueAndWait(s, copy);
    // Until the copy has run the host may not read these bytes at all: NaN bytes make a read that
    // comes too soon fail even where the buffer already held the same values.
    memset(destination, 0xff, bytes);
    Queue(s, copy);
    return Success;
}

int CopyDtoD(Stream* s, uint64_t destination, uint64_t source, size_t bytes, const char* call)
{
    if (!HasContext(call)) return InvalidContext;
    if (!InsideOneAllocation(destination, bytes, call) || !InsideOneAllocation(source, bytes, call)) return InvalidValue;
    std::lock_guard<std::recursive_mutex> guard(streamLock);
    census.Add(call, (long long)bytes);
    Queue(s, [=] {
        memmove((void*)(uintptr_t)destination, (const void*)(uintptr_t)source, bytes);
        if (arena.Holds(destination, bytes) && arena.Holds(source, bytes)) arena.CopyWritten(destination, source, bytes);
        else MarkWritten(destination, bytes);
        return (int)Success;
    });
    return Success;
}

// A memset is asynchronous even without "Async" (those queue on the legacy stream), except that
// cuMemsetD*_v2 on pinned host memory returns once it is done.
int Memset(Stream* s, uint64_t destination, size_t bytes, bool blocking, std::function<int()> fill)
{
    if (!HasContext("cuMemset")) return InvalidContext;
    if (!InsideOneAllocation(destination, bytes, "cuMemset")) return InvalidValue;
    std::lock_guard<std::recursive_mutex> guard(streamLock);
    auto fillAndMark = [=] {
        const int status = fill();
        MarkWritten(destination, bytes);
        return status;
    };
    if (blocking && Pinned((const void*)(uintptr_t)destination, bytes)) return QueueAndWait(s, fillAndMark);
    Queue(s, fillAndMark);
    return Success;
}
// The bytes of a column-major matrix, column by column: rows × cols with leading dimension ld, `size`-byte
// elements, `batches` of them `stride` elements apart; `triangle` 1 keeps rows j.. of column j, 2 rows ..j.
// `visit(start, bytes)` returns false to stop.
template <class Visit>
void ForEachColumn(uintptr_t p, int64_t rows, int64_t cols, int64_t ld, int size, int64_t batches, int64_t stride, int triangle,
    Visit visit)
{
    for (int64_t b = 0; b < batches; b++)
        for (int64_t j = 0; j < cols; j++)
        {
            const int64_t first = triangle == 1 ? std::min(j, rows) : 0, last = triangle == 2 ? std::min(j + 1, rows) : rows;
            if (first < last && !visit(p + (uint64_t)((b * stride + j * ld + first) * size), (size_t)((last - first) * size))) return;
        }
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

int cuDevicePrimaryCtxRelease_v2(int device)
{
    if (device != 0) return InvalidValue;
    std::lock_guard<std::recursive_mutex> guard(streamLock);
    RunAll();
    return Success;
}

int cuCtxSetCurrent(void* context)
{
    if (context && context != &contextToken) return InvalidContext;
    currentContext = context;
    return Success;
}

int cuCtxSynchronize()
{
    if (!HasContext("cuCtxSynchronize")) return InvalidContext;
    std::lock_guard<std::recursive_mutex> guard(streamLock);
    census.Add("sync context");
    RunAll();
    return TakeDeferredError();
}

int cuMemGetInfo_v2(size_t* free, size_t* total)
{
    if (!HasContext("cuMemGetInfo_v2")) return InvalidContext;
    std::lock_guard<std::mutex> guard(allocationLock);
    *total = DeviceMemory();
    *free = allocated < *total ? *total - allocated : 0;
    return Success;
}

int cuModuleLoadData(void** module, const void* image)
{
    if (!HasContext("cuModuleLoadData")) return InvalidContext;
    const char* library;
    uint64_t size, buildHash;
    if (!image || !rose_emu_image::Unwrap(image, &library, &size, &buildHash))
    {
        fprintf(stderr, "rose emulator: cuModuleLoadData was given an image its NVRTC did not build\n");
        return InvalidImage;
    }
    if (!HooksAgree())
    {
        fprintf(stderr, "rose emulator: the kernel prelude declares DeviceAccessFn or DeviceWhereFn unlike the driver (fake_cuda.cpp)\n");
        return InvalidImage;
    }
    const bool raceCheck = rose_emu_image::RaceCheck();
    if (buildHash == rose_emu_image::BuildHash(kPrelude, sizeof kPrelude - 1, !raceCheck))
    {
        fprintf(stderr, "rose emulator: a kernel image built %s the race check while ROSE_EMU_RACECHECK%s (from a kernel cache?); "
                        "point XDG_CACHE_HOME and ROSE_EMU_CACHE at a folder of their own for each setting\n",
                raceCheck ? "without" : "with", raceCheck ? " is unset or not 0" : "=0");
        return InvalidImage;
    }
    if (buildHash != rose_emu_image::BuildHash(kPrelude, sizeof kPrelude - 1, raceCheck))
    {
        fprintf(stderr, "rose emulator: a kernel image built by another version of the emulator (from a kernel cache?); "
                        "point XDG_CACHE_HOME and ROSE_EMU_CACHE at an empty folder\n");
        return InvalidImage;
    }
    // Each copy from a file of its own: dlopen hands the same path back as the copy it already loaded.
    auto m = std::make_unique<Module>();
    for (int w = 0, copies = Workers(); w < copies; w++)
    {
        char path[] = "/tmp/rose-emu-module-XXXXXX";
        const int fd = mkstemp(path);
        void* handle = nullptr;
        if (fd >= 0)
        {
            const bool written = write(fd, library, size) == (ssize_t)size;
            close(fd);
            handle = written ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : nullptr;
            unlink(path);
        }
        auto launch = handle ? reinterpret_cast<LaunchFn>(dlsym(handle, "rose_emu_launch")) : nullptr;
        if (!launch)
        {
            fprintf(stderr, "rose emulator: cannot load a kernel module: %s\n", handle ? "it has no rose_emu_launch" : dlerror());
            if (handle) dlclose(handle);
            for (auto& copy : m->copies) dlclose(copy.library);
            return InvalidImage;
        }
        m->copies.push_back({handle, launch});
    }
    *module = m.release();
    return Success;
}

int cuModuleUnload(void* module)
{
    if (!HasContext("cuModuleUnload")) return InvalidContext;
    if (!module) return InvalidHandle;
    auto* m = static_cast<Module*>(module);
    // Its queued launches run first: they need its code.
    std::lock_guard<std::recursive_mutex> guard(streamLock);
    RunAll();
    for (auto& copy : m->copies) dlclose(copy.library);
    delete m;
    return Success;
}

int cuModuleGetFunction(void** function, void* module, const char* name)
{
    if (!module || !name) return InvalidHandle;
    auto* m = static_cast<Module*>(module);
    std::vector<void (*)(void**)> entries;
    for (auto& copy : m->copies)
    {
        auto entry = reinterpret_cast<void (*)(void**)>(dlsym(copy.library, ("rose_emu_entry_" + std::string(name)).c_str()));
        if (!entry) return NotFound;
        entries.push_back(entry);
    }
    auto sizes = reinterpret_cast<int (*)(unsigned*, int)>(dlsym(m->copies[0].library, ("rose_emu_argument_sizes_" + std::string(name)).c_str()));
    if (!sizes) return NotFound;
    std::vector<unsigned> argumentSizes((size_t)sizes(nullptr, 0));
    sizes(argumentSizes.data(), (int)argumentSizes.size());
    auto bound = reinterpret_cast<unsigned (*)()>(dlsym(m->copies[0].library, ("rose_emu_max_threads_" + std::string(name)).c_str()));
    *function = new Function{m, std::move(entries), name, std::move(argumentSizes), bound ? bound() : 0u};
    return Success;
}

int cuLaunchKernel(void* function, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
    unsigned sharedBytes, void* stream, void** params, void** extra)
{
    if (!HasContext("cuLaunchKernel")) return InvalidContext;
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
    // A kernel compiled for at most N threads a block (its registers allotted for N) cannot run more.
    if (f->maxThreads != 0 && (uint64_t)bx * by * bz > f->maxThreads)
    {
        fprintf(stderr, "rose emulator: kernel %s refused: block (%u,%u,%u) is more than its __launch_bounds__(%u)\n", f->name.c_str(), bx,
            by, bz, f->maxThreads);
        return LaunchOutOfResources;
    }
    const std::array<unsigned, 3> grid{gx, gy, gz}, block{bx, by, bz};
    census.Add("launch " + f->name, (long long)gx * gy * gz);
    if (!f->argumentSizes.empty() && !params) return InvalidValue;
    auto arguments = std::make_shared<Arguments>(f->argumentSizes, params);
    std::lock_guard<std::recursive_mutex> guard(streamLock);
    Queue(StreamOf(stream), [=] {
        // Blocks go to the workers in turn; a launch of under 1024 threads in all is not worth a second one.
        const uint64_t blocks = (uint64_t)grid[0] * grid[1] * grid[2];
        uint64_t shares = std::min<uint64_t>({(uint64_t)f->entries.size(), (uint64_t)Workers(), blocks});
        if (blocks * block[0] * block[1] * block[2] < 1024) shares = 1;
        std::vector<std::array<char, 1024>> errors(shares);
        std::vector<int> failed(shares, 0);
        // The records carry 16 bits of the count: when they wrap, the records go (0 stands for none).
        if ((++launchSerial & 0xffffu) == 0)
        {
            if (arena.Reserved())
            {
                arena.Forget();
                std::lock_guard<std::mutex> guard(allocationLock);
                for (const auto& [start, a] : allocations) MarkSlack(start, a, true);
            }
            ++launchSerial;
        }
        currentLaunch = launchSerial;
        currentLaunchShared = shares > 1;
        rose_emu_threads::RunOnThreads((int)shares, [&](int w) {
            errors[w][0] = 0;
            failed[w] = f->module->copies[w].launch(f->entries[w], grid.data(), block.data(), sharedBytes, arguments->pointers.data(),
                (unsigned)w, (unsigned)shares, arena.Lo(), arena.Hi(), CheckDeviceAccess, WhereInDevice, errors[w].data(), (int)errors[w].size());
        });
        for (uint64_t w = 0; w < shares; w++)
        {
            if (!failed[w]) continue;
            char text[1200];
            snprintf(text, sizeof text, "kernel %s grid (%u,%u,%u) block (%u,%u,%u): %s", f->name.c_str(), grid[0], grid[1], grid[2],
                block[0], block[1], block[2], errors[w].data());
            fprintf(stderr, "rose emulator: %s\n", text);
            {
                std::lock_guard<std::mutex> guard(lastLaunchErrorLock);
                lastLaunchError = text;
            }
            return (int)LaunchFailed;
        }
        return (int)Success;
    });
    // Run at once, a failure is the launch's own; queued, the next synchronization reports it.
    return Eager() ? TakeDeferredError() : Success;
}

// For tests (not a CUDA function): the count of launches so far, so that the next ones cross the point
// where the race check's 16-bit launch stamps wrap without running 65536 launches first.
__attribute__((visibility("default"))) void rose_emu_set_launch_count(unsigned count)
{
    std::lock_guard<std::recursive_mutex> guard(streamLock);
    RunAll();
    launchSerial = count;
}

// For tests (not a CUDA function): how many OS threads share out a launch's blocks from now on, at most
// as many as modules were loaded with (ROSE_EMU_WORKERS or the host's cores); 0 or less: that default.
__attribute__((visibility("default"))) void rose_emu_set_workers(int workers)
{
    workersSet = workers < 0 ? 0 : workers;
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

// The reason the last failed launch gave (as printed to stderr), for tests that expect one: copies at
// most `size` bytes and returns the whole length.
__attribute__((visibility("default"))) long long rose_emu_last_launch_error(char* buffer, long long size)
{
    std::lock_guard<std::mutex> guard(lastLaunchErrorLock);
    if (buffer && size > 0) memcpy(buffer, lastLaunchError.data(), std::min<size_t>(lastLaunchError.size(), (size_t)size));
    return (long long)lastLaunchError.size();
}

// For the emulated cuBLAS and cuSOLVER (not a CUDA function): whether an operand's bytes [p, p + bytes) lie
// inside one allocation; if not, 0 and the reason in `why` (at most `length` bytes, NUL-terminated).
__attribute__((visibility("default"))) int rose_emu_inside_allocation(uintptr_t p, size_t bytes, char* why, int length)
{
    std::string reason;
    if (InsideOneAllocation(p, bytes, &reason)) return 1;
    if (why && length > 0) snprintf(why, (size_t)length, "%s", reason.c_str());
    return 0;
}

// For the emulated cuBLAS and cuSOLVER (not a CUDA function), as their work runs: the initialization check's
// record that they wrote a column-major matrix of rows × cols (leading dimension ld, elements of `size` bytes),
// `batches` of them `stride` elements apart.
__attribute__((visibility("default"))) void rose_emu_mark_written(uintptr_t p, int64_t rows, int64_t cols, int64_t ld, int size,
    int64_t batches, int64_t stride)
{
    ForEachColumn(p, rows, cols, ld, size, batches, stride, 0, [](uintptr_t start, size_t bytes) {
        MarkWritten(start, bytes);
        return true;
    });
}

// For the emulated cuBLAS and cuSOLVER (not a CUDA function), as their work runs: 1 when a column-major matrix
// they read (rows × cols, leading dimension ld, `size`-byte elements, `batches` of them `stride` elements apart;
// `triangle` 1: only rows j.. of column j, 2: only rows ..j) holds a byte of device memory that nothing has
// written since its allocation, with its offset there and the allocation's size; else 0. Only with the race
// check: kernels built without it do not record their writes.
__attribute__((visibility("default"))) int rose_emu_unwritten_in(uintptr_t p, int64_t rows, int64_t cols, int64_t ld, int size,
    int64_t batches, int64_t stride, int triangle, uint64_t* offset, uint64_t* allocationBytes)
{
    if (!rose_emu_image::RaceCheck()) return 0;
    uintptr_t unwritten = 0;
    ForEachColumn(p, rows, cols, ld, size, batches, stride, triangle, [&](uintptr_t start, size_t bytes) {
        if (arena.Holds(start, bytes)) unwritten = arena.FirstUnwritten(start, bytes);
        return unwritten == 0;
    });
    if (!unwritten) return 0;
    WhereInDevice(unwritten, offset, allocationBytes);
    return 1;
}

// For the emulated cuBLAS and cuSOLVER (not a CUDA function): queues `run(context)` on `stream` like
// any other work there; a nonzero return counts as a failed launch.
__attribute__((visibility("default"))) int rose_emu_enqueue(void* stream, int (*run)(void*), void* context)
{
    std::lock_guard<std::recursive_mutex> guard(streamLock);
    Queue(StreamOf(stream), [=] { return run(context) == 0 ? (int)Success : (int)LaunchFailed; });
    return Success;
}

int cuMemAlloc_v2(uint64_t* pointer, size_t bytes)
{
    if (!HasContext("cuMemAlloc_v2")) return InvalidContext;
    if (bytes == 0) return InvalidValue;
    std::lock_guard<std::mutex> guard(allocationLock);
    if (allocationsLeft == 0) return OutOfMemory;
    if (allocationsLeft > 0) allocationsLeft--;
    if (allocated + bytes > DeviceMemory()) return OutOfMemory;
    void* p = Allocate(bytes, false);
    if (!p) return OutOfMemory;
    census.Add("alloc device", (long long)bytes);
    allocated += bytes;
    *pointer = (uint64_t)(uintptr_t)p;
    return Success;
}

int cuMemFree_v2(uint64_t pointer)
{
    if (!HasContext("cuMemFree_v2")) return InvalidContext;
    if (pointer == 0) return Success;
    // A free synchronizes the device: queued work that uses the memory runs first.
    std::lock_guard<std::recursive_mutex> streamGuard(streamLock);
    RunAll();
    std::lock_guard<std::mutex> guard(allocationLock);
    size_t bytes;
    if (!Release((void*)(uintptr_t)pointer, &bytes)) return InvalidValue;
    census.Add("free device (synchronizes)", (long long)bytes);
    allocated -= bytes;
    return Success;
}

int cuMemAllocHost_v2(void** pointer, size_t bytes)
{
    if (!HasContext("cuMemAllocHost_v2")) return InvalidContext;
    std::lock_guard<std::mutex> guard(allocationLock);
    void* p = Allocate(bytes == 0 ? 1 : bytes, true);
    if (!p) return OutOfMemory;
    census.Add("alloc pinned host", (long long)bytes);
    *pointer = p;
    return Success;
}

int cuMemFreeHost(void* pointer)
{
    if (!HasContext("cuMemFreeHost")) return InvalidContext;
    std::lock_guard<std::recursive_mutex> streamGuard(streamLock);
    RunAll();
    std::lock_guard<std::mutex> guard(allocationLock);
    size_t bytes;
    return pointer == nullptr || Release(pointer, &bytes) ? Success : InvalidValue;
}

int MemsetD8(uint64_t destination, unsigned char value, size_t count, void* stream, bool blocking)
{
    return Memset(StreamOf(stream), destination, count, blocking, [=] {
        memset((void*)(uintptr_t)destination, value, count);
        return (int)Success;
    });
}

int MemsetD32(uint64_t destination, unsigned value, size_t count, void* stream, bool blocking)
{
    return Memset(StreamOf(stream), destination, count * sizeof(unsigned), blocking, [=] {
        auto* p = (unsigned*)(uintptr_t)destination;
        for (size_t i = 0; i < count; i++) p[i] = value;
        return (int)Success;
    });
}

int cuMemsetD8Async(uint64_t destination, unsigned char value, size_t count, void* stream) { return MemsetD8(destination, value, count, stream, false); }
int cuMemsetD32Async(uint64_t destination, unsigned value, size_t count, void* stream) { return MemsetD32(destination, value, count, stream, false); }
int cuMemsetD8_v2(uint64_t destination, unsigned char value, size_t count) { return MemsetD8(destination, value, count, nullptr, true); }
int cuMemsetD32_v2(uint64_t destination, unsigned value, size_t count) { return MemsetD32(destination, value, count, nullptr, true); }

int cuMemcpyHtoD_v2(uint64_t d, const void* s, size_t n) { return CopyHtoD(&legacy, d, s, n, "copy HtoD (blocks)", true); }
int cuMemcpyDtoH_v2(void* d, uint64_t s, size_t n) { return CopyDtoH(&legacy, d, s, n, "copy DtoH (blocks)", true); }
int cuMemcpyDtoD_v2(uint64_t d, uint64_t s, size_t n) { return CopyDtoD(&legacy, d, s, n, "copy DtoD"); }
int cuMemcpyHtoDAsync_v2(uint64_t d, const void* s, size_t n, void* stream)
{
    return CopyHtoD(StreamOf(stream), d, s, n, "copy HtoD async", false);
}
int cuMemcpyDtoHAsync_v2(void* d, uint64_t s, size_t n, void* stream)
{
    return CopyDtoH(StreamOf(stream), d, s, n, "copy DtoH async", false);
}
int cuMemcpyDtoDAsync_v2(uint64_t d, uint64_t s, size_t n, void* stream) { return CopyDtoD(StreamOf(stream), d, s, n, "copy DtoD async"); }

int cuStreamCreate(void** stream, unsigned flags)
{
    if (!HasContext("cuStreamCreate")) return InvalidContext;
    std::lock_guard<std::recursive_mutex> guard(streamLock);
    auto* s = new Stream{(flags & 1) != 0, {}};   // CU_STREAM_NON_BLOCKING
    streams.insert(s);
    *stream = s;
    return Success;
}

// A stream's work still completes after it is destroyed; here it runs now. The Stream itself is kept:
// work queued elsewhere may still name it as one to wait for.
int cuStreamDestroy_v2(void* stream)
{
    if (!stream) return InvalidHandle;
    std::lock_guard<std::recursive_mutex> guard(streamLock);
    auto* s = static_cast<Stream*>(stream);
    RunThrough(s, UINT64_MAX);
    streams.erase(s);
    return Success;
}

int cuStreamSynchronize(void* stream)
{
    std::lock_guard<std::recursive_mutex> guard(streamLock);
    census.Add("sync stream");
    if (stream) RunThrough(static_cast<Stream*>(stream), UINT64_MAX);
    else RunLegacy();
    return TakeDeferredError();
}

int cuEventCreate(void** event, unsigned)
{
    if (!HasContext("cuEventCreate")) return InvalidContext;
    *event = new Event{std::chrono::steady_clock::now()};
    return Success;
}

// The event completes when the work queued before it on the stream has run.
int cuEventRecord(void* event, void* stream)
{
    if (!event) return InvalidHandle;
    std::lock_guard<std::recursive_mutex> guard(streamLock);
    auto* e = static_cast<Event*>(event);
    const uint64_t generation = ++e->generation;
    e->done = false;
    e->stream = StreamOf(stream);
    e->serial = Queue(e->stream, [=] {
        if (e->generation == generation)
        {
            e->at = std::chrono::steady_clock::now();
            e->done = true;
        }
        return (int)Success;
    });
    return Success;
}

int cuEventSynchronize(void* event)
{
    if (!event) return InvalidHandle;
    std::lock_guard<std::recursive_mutex> guard(streamLock);
    census.Add("sync event");
    auto* e = static_cast<Event*>(event);
    if (e->stream) RunThrough(e->stream, e->serial);
    return TakeDeferredError();
}

int cuEventElapsedTime(float* milliseconds, void* start, void* end)
{
    if (!start || !end) return InvalidHandle;
    std::lock_guard<std::recursive_mutex> guard(streamLock);
    auto *a = static_cast<Event*>(start), *b = static_cast<Event*>(end);
    if (!a->done || !b->done) return NotReady;
    *milliseconds = std::chrono::duration<float, std::milli>(b->at - a->at).count();
    return Success;
}

int cuEventDestroy_v2(void* event)
{
    if (!event) return InvalidHandle;
    std::lock_guard<std::recursive_mutex> guard(streamLock);
    auto* e = static_cast<Event*>(event);
    // Its queued record refers to it.
    if (e->stream) RunThrough(e->stream, e->serial);
    delete e;
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
    case NotReady: *name = "CUDA_ERROR_NOT_READY"; break;
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
    case NotReady: *description = "device not ready"; break;
    case LaunchFailed: *description = "unspecified launch failure (the emulator printed why)"; break;
    default: *description = nullptr; return InvalidValue;
    }
    return Success;
}
}
