// Self-test of the emulator's own machinery, through the same entry points Rose uses (NVRTC, then
// the driver): block barriers and shuffles, dynamic shared memory, static shared memory poisoned in
// every block, __activemask with a partial warp, a divergent warp collective reported as a failed
// launch, an access past an allocation stopping the process, streams as queues that run only when
// the host must see their work (unless ROSE_EMU_STREAMS=eager), and the shared-memory race check (unless
// ROSE_EMU_RACECHECK=0). Exits nonzero on any failure. Run by build.sh after building the libraries.
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

extern "C"
{
int nvrtcCreateProgram(void**, const char*, const char*, int, const char* const*, const char* const*);
int nvrtcCompileProgram(void*, int, const char* const*);
int nvrtcGetProgramLogSize(void*, size_t*);
int nvrtcGetProgramLog(void*, char*);
int nvrtcGetCUBINSize(void*, size_t*);
int nvrtcGetCUBIN(void*, char*);
int cuModuleLoadData(void**, const void*);
int cuModuleGetFunction(void**, void*, const char*);
int cuLaunchKernel(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void*, void**, void**);
int cuMemAlloc_v2(uint64_t*, size_t);
int cuMemFree_v2(uint64_t);
int cuMemcpyHtoD_v2(uint64_t, const void*, size_t);
int cuMemcpyDtoH_v2(void*, uint64_t, size_t);
int cuMemcpyDtoD_v2(uint64_t, uint64_t, size_t);
int cuMemcpyHtoDAsync_v2(uint64_t, const void*, size_t, void*);
int cuMemcpyDtoHAsync_v2(void*, uint64_t, size_t, void*);
int cuMemsetD32_v2(uint64_t, unsigned, size_t);
int cuMemsetD32Async(uint64_t, unsigned, size_t, void*);
int cuMemAllocHost_v2(void**, size_t);
int cuMemFreeHost(void*);
int cuStreamCreate(void**, unsigned);
int cuStreamDestroy_v2(void*);
int cuStreamSynchronize(void*);
int cuCtxSynchronize();
int cuEventCreate(void**, unsigned);
int cuEventRecord(void*, void*);
int cuEventSynchronize(void*);
int cuEventElapsedTime(float*, void*, void*);
int cuEventDestroy_v2(void*);
void rose_emu_set_workers(int);
void rose_emu_set_launch_count(unsigned);
int cuInit(unsigned);
int cuDevicePrimaryCtxRetain(void**, int);
int cuCtxSetCurrent(void*);
}

namespace
{
const char* kSource = R"(
extern "C" __global__ void block_sum(const float* x, float* out)
{
    __shared__ float partial[8];
    float v = x[blockIdx.x * blockDim.x + threadIdx.x];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = v;
    __syncthreads();
    if (threadIdx.x == 0)
    {
        float s = 0.0f;
        for (int w = 0; w < (int)(blockDim.x >> 5); w++) s += partial[w];
        out[blockIdx.x] = s;
    }
}

extern "C" __global__ void past_shared(float* out, int n)
{
    extern __shared__ float stage[];
    stage[threadIdx.x] = 1.0f;
    __syncthreads();
    if (threadIdx.x == 0)
        out[0] = stage[n + 16];
}

// Many blocks over several workers: each sums its slice through a static __shared__ array (each worker
// has its own copy) and bumps one global counter 64 times per thread (atomics must be atomic).
extern "C" __global__ void slice_sums(const float* x, unsigned* counter, float* out)
{
    __shared__ float slice[128];
    slice[threadIdx.x] = x[blockIdx.x * blockDim.x + threadIdx.x];
    for (int k = 0; k < 64; k++) atomicAdd(counter, 1u);
    __syncthreads();
    if (threadIdx.x == 0)
    {
        float s = 0.0f;
        for (int i = 0; i < (int)blockDim.x; i++) s += slice[i];
        out[blockIdx.x] = s;
    }
}

extern "C" __global__ void __launch_bounds__(64) bounded(int* out)
{
    out[blockIdx.x * blockDim.x + threadIdx.x] = 1;
}

extern "C" __global__ void run_order(unsigned* counter, unsigned* out)
{
    if (threadIdx.x == 0)
        out[blockIdx.y * gridDim.x + blockIdx.x] = atomicAdd(counter, 1u);
}

extern "C" __global__ void reverse_in_shared(const int* x, int* out)
{
    extern __shared__ int stage[];
    stage[threadIdx.x] = x[threadIdx.x];
    __syncthreads();
    out[threadIdx.x] = stage[blockDim.x - 1 - threadIdx.x];
}

// Lanes 0..n-1 of one warp run the loop body once more than the rest: the active lanes there are
// exactly those, and each counts its peers with the same value.
extern "C" __global__ void active_peers(int n, unsigned* active, unsigned* peers)
{
    for (int i = threadIdx.x; i < 32 + n; i += 32)
    {
        const unsigned mask = __activemask();
        const unsigned same = __match_any_sync(mask, (unsigned)(i & 1));
        if (i >= 32) { active[threadIdx.x] = mask; peers[threadIdx.x] = same; }
    }
}

// Reads a static shared array before any thread of the block wrote it, then writes it: every block
// must see garbage, not zeros and not what the previous block left.
extern "C" __global__ void unwritten_shared(int* out)
{
    __shared__ int scratch[64];
    out[blockIdx.x * blockDim.x + threadIdx.x] = scratch[threadIdx.x];
    __syncthreads();
    scratch[threadIdx.x] = 7;
}

// Half the warp shuffles with a full mask while the other half waits at the block barrier.
extern "C" __global__ void divergent(float* out)
{
    if (threadIdx.x < 16) out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
    __syncthreads();
}

// Each thread writes its slot and reads a partner's (lane ^ 1, or 32 threads on: another warp), in a
// static or the dynamic shared array: a race unless a barrier orders the two (sync 1: __syncthreads;
// 2: __syncwarp, which orders the lanes of one warp only).
extern "C" __global__ void exchange(int sync, int far, int dynamic, int* out)
{
    __shared__ int slots[64];
    extern __shared__ int stage[];
    int* cells = dynamic ? stage : slots;
    cells[threadIdx.x] = (int)threadIdx.x;
    if (sync == 1) __syncthreads();
    if (sync == 2) __syncwarp();
    out[blockIdx.x * blockDim.x + threadIdx.x] = cells[far ? (threadIdx.x + 32) % blockDim.x : threadIdx.x ^ 1];
}

// Thread 0 reads the cell thread 1 writes, after `lead` more barriers (the emulator runs threads in
// alternating order from barrier to barrier, so one lead runs the read first and the other the write):
// a race either way unless a barrier lies between.
extern "C" __global__ void one_reads_one_writes(int lead, int sync, int* out)
{
    __shared__ int cell[32];
    cell[threadIdx.x] = (int)threadIdx.x;
    __syncthreads();
    for (int i = 0; i < lead; i++) __syncthreads();
    if (threadIdx.x == 0) out[0] = cell[1];
    if (sync) __syncthreads();
    if (threadIdx.x == 1) cell[1] = 5;
}

// Bytes and whole words of one shared array: 32 threads write a byte each (four to a word) and read one
// back (mode 1: the whole word holding it), then threads 0-7 write a word each, whole, and all read their
// byte again. Without barriers (sync 0), mode 1 races where a word read takes in three other threads'
// bytes, and mode 2 where a byte is read with no barrier after another thread wrote its word.
extern "C" __global__ void bytes_and_words(int mode, int sync, int* out)
{
    __shared__ unsigned words[8];
    unsigned char* bytes = (unsigned char*)words;
    const unsigned t = threadIdx.x;
    bytes[t] = (unsigned char)t;
    if (sync) __syncthreads();
    unsigned seen = mode == 1 ? words[t / 4] : bytes[t];
    __syncthreads();
    if (t < 8) words[t] = 0x01010101u * t;
    if (sync || mode != 2) __syncthreads();
    seen += bytes[t];
    out[t] = (int)seen;
}

// Blocks of one launch and words of device memory, touched by thread 5 of each block (8 blocks of 128
// threads: enough for the blocks to run on several workers at once). Mode 0: each block writes its own
// word; 1: every block writes word 0; 2: block 0 writes word 0 and the others read it; 3: every block
// reads word 0; 4: every block adds to word 0 atomically; 5: block b writes byte b (four blocks to a
// word); 6: each block reads its neighbour's word (written by an earlier launch). 1 and 2 race.
extern "C" __global__ void blocks_share(int mode, unsigned* words)
{
    if (threadIdx.x != 5) return;
    const unsigned b = blockIdx.x;
    unsigned seen = 0;
    if (mode == 0) words[b] = b;
    if (mode == 1) words[0] = b;
    if (mode == 2 && b == 0) words[0] = 7;
    if (mode == 2 && b != 0) seen = words[0];
    if (mode == 3) seen = words[0];
    if (mode == 4) atomicAdd(&words[0], 1u);
    if (mode == 5) ((unsigned char*)(words + 8))[b] = (unsigned char)b;
    if (mode == 6) seen = words[(b + 1) % gridDim.x];
    words[16 + b] = seen;
}

// Threads of one block (64: two warps) and words of device memory. Mode 0: each thread writes its own
// word and reads it back; 1: thread 0 writes word 0 and thread 33 (the other warp) reads it; 2: the same
// with a __syncthreads between; 3: thread 1 (the same warp) reads it after a __syncwarp; 4: after a
// shuffle, which orders no memory; 5: each thread writes its own byte; 6: thread 1 reads byte 1 of the
// word thread 0 wrote whole; 7: every thread reads word 0 (an earlier launch wrote it); 8: every thread
// adds to word 0 atomically. 1, 4 and 6 race.
extern "C" __global__ void threads_share(int mode, unsigned* words)
{
    const unsigned t = threadIdx.x;
    unsigned seen = 0;
    if (mode == 0) words[t] = t, seen = words[t];
    if (mode >= 1 && mode <= 4 && t == 0) words[0] = 7;
    if (mode == 2) __syncthreads();
    if (mode == 3) __syncwarp();
    if (mode == 4) seen = __shfl_sync(0xffffffffu, t, 0);
    if ((mode == 1 || mode == 2) && t == 33) seen += words[0];
    if ((mode == 3 || mode == 4) && t == 1) seen += words[0];
    if (mode == 5) ((unsigned char*)words)[t] = (unsigned char)t;
    if (mode == 6 && t == 0) words[0] = 0x01020304u;
    if (mode == 6 && t == 1) seen = ((const unsigned char*)words)[1];
    if (mode == 7) seen = words[0];
    if (mode == 8) atomicAdd(&words[0], 1u);
    words[64 + t] = seen;
}

// Reads of shared memory that no thread of the block wrote. Mode 0: every thread writes its cell, and after a
// barrier reads another's; 1: only threads 0-15 write, and 0-15 read cells 16-31; 2: only the last block
// (which the emulator runs first) writes, and every block reads (block 0's cells hold what it left).
extern "C" __global__ void shared_unwritten(int mode, int* out)
{
    __shared__ int cells[32];
    const int t = threadIdx.x;
    if (mode == 0 || (mode == 1 && t < 16) || (mode == 2 && blockIdx.x == gridDim.x - 1)) cells[t] = t;
    __syncthreads();
    out[blockIdx.x * 32 + t] = cells[mode == 1 ? t ^ 16 : 31 - t];
}

// Every thread bumps one shared counter in the same barrier interval: atomics do not race.
extern "C" __global__ void shared_counter(unsigned* out)
{
    __shared__ unsigned count;
    if (threadIdx.x == 0) count = 0;
    __syncthreads();
    atomicAdd(&count, 1u);
    __syncthreads();
    if (threadIdx.x == 0) out[0] = count;
}

// Accesses at an offset of `bytes` into device memory (words) or a shared array: mode 0, a 4-byte read; 1, a
// 2-byte write; 2, an 8-byte read; 3, a 4-byte read of shared memory. A GPU faults unless the offset is a
// multiple of the access's size.
extern "C" __global__ void aligned_or_not(int mode, int bytes, unsigned* words)
{
    __shared__ unsigned cells[8];
    char* device = (char*)words;
    if (mode == 0) words[32] = *(const unsigned*)(device + bytes);
    if (mode == 1) *(unsigned short*)(device + bytes) = 7;
    if (mode == 2) words[32] = (unsigned)*(const unsigned long long*)(device + bytes);
    if (mode == 3)
    {
        for (int i = 0; i < 8; i++) cells[i] = i;
        words[32] = *(const unsigned*)((const char*)cells + bytes);
    }
}

// One thread touches x (n floats) at element `at`: in bounds for 0 <= at < n; past its end (inside the
// driver's 256-byte granularity, before the guard page) or before its start otherwise.
extern "C" __global__ void touch_at(float* x, int at, int write, float* out)
{
    if (write) x[at] = 1.0f;
    else out[0] = x[at];
}

extern "C" __global__ void past_the_end(const float* x, float* out, int n)
{
    out[0] = x[n + 64];
}
)";

int failures = 0;

void Check(bool ok, const std::string& what)
{
    if (!ok)
    {
        fprintf(stderr, "emu_selftest: FAILED %s\n", what.c_str());
        failures++;
    }
}

// The self-test kernels' image, built as ROSE_EMU_RACECHECK says now.
std::vector<char> BuildImage()
{
    void* program;
    nvrtcCreateProgram(&program, kSource, "selftest.cu", 0, nullptr, nullptr);
    if (nvrtcCompileProgram(program, 0, nullptr) != 0)
    {
        size_t size;
        nvrtcGetProgramLogSize(program, &size);
        std::string log(size, '\0');
        nvrtcGetProgramLog(program, &log[0]);
        fprintf(stderr, "emu_selftest: the test kernels do not build:\n%s\n", log.c_str());
        exit(1);
    }
    size_t size;
    nvrtcGetCUBINSize(program, &size);
    std::vector<char> image(size);
    nvrtcGetCUBIN(program, image.data());
    return image;
}

void* LoadModule()
{
    const std::vector<char> image = BuildImage();
    void* module;
    if (cuModuleLoadData(&module, image.data()) != 0)
    {
        fprintf(stderr, "emu_selftest: cuModuleLoadData failed\n");
        exit(1);
    }
    return module;
}

void* Kernel(void* module, const char* name)
{
    void* f = nullptr;
    if (cuModuleGetFunction(&f, module, name) != 0)
    {
        fprintf(stderr, "emu_selftest: kernel %s not found\n", name);
        exit(1);
    }
    return f;
}

template <class T> uint64_t Upload(const std::vector<T>& host)
{
    uint64_t d;
    cuMemAlloc_v2(&d, host.size() * sizeof(T));
    cuMemcpyHtoD_v2(d, host.data(), host.size() * sizeof(T));
    return d;
}

// Runs `launch` and then a synchronization in a child process (so this one goes on); whether the
// child died of a memory fault.
bool FaultsInAChild(const std::function<void()>& launch)
{
    fflush(stdout);
    fflush(stderr);
    const pid_t child = fork();
    if (child == 0)
    {
        launch();
        cuCtxSynchronize();
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    return WIFSIGNALED(status) && (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS);
}

// Streams are queues: the host sees a copy's bytes only after a synchronization that covers it, an
// async copy from pinned memory reads it when it runs, a non-blocking stream does not wait for the
// legacy default stream, and a blocking one (and the legacy stream itself) does.
void StreamChecks()
{
    const size_t n = 64;
    const unsigned seven = 7;
    std::vector<unsigned> ones(n, 1u);
    uint64_t d = 0;
    cuMemAlloc_v2(&d, n * sizeof(unsigned));
    cuMemcpyHtoD_v2(d, ones.data(), n * sizeof(unsigned));
    void* pinnedBytes = nullptr;
    cuMemAllocHost_v2(&pinnedBytes, n * sizeof(unsigned));
    auto* pinned = static_cast<unsigned*>(pinnedBytes);
    void *blocking = nullptr, *nonBlocking = nullptr, *event = nullptr;
    cuStreamCreate(&blocking, 0);
    cuStreamCreate(&nonBlocking, 1);
    cuEventCreate(&event, 0);

    memset(pinned, 0, n * sizeof(unsigned));
    cuMemcpyDtoHAsync_v2(pinned, d, n * sizeof(unsigned), blocking);
    Check(pinned[0] == 0xffffffffu, "an async copy to pinned memory has not landed before a synchronization (NaN bytes until then)");
    cuEventRecord(event, blocking);
    float ms = 0;
    Check(cuEventElapsedTime(&ms, event, event) == 600, "an event not yet reached is not ready");
    Check(cuEventSynchronize(event) == 0 && pinned[0] == 1 && pinned[n - 1] == 1, "the event's synchronization lands it");

    for (size_t i = 0; i < n; i++) pinned[i] = 2;
    cuMemcpyHtoDAsync_v2(d, pinned, n * sizeof(unsigned), blocking);
    for (size_t i = 0; i < n; i++) pinned[i] = 3;   // refilled before the copy ran: the copy takes 3s
    cuStreamSynchronize(blocking);
    std::vector<unsigned> back(n);
    cuMemcpyDtoH_v2(back.data(), d, n * sizeof(unsigned));
    Check(back[0] == 3, "an async copy from pinned memory reads it when it runs");

    cuMemsetD32_v2(d, seven, n);   // queued on the legacy stream
    memset(pinned, 0, n * sizeof(unsigned));
    cuMemcpyDtoHAsync_v2(pinned, d, n * sizeof(unsigned), nonBlocking);
    cuStreamSynchronize(nonBlocking);
    Check(pinned[0] == 3, "a non-blocking stream does not wait for the legacy stream");
    cuMemcpyDtoHAsync_v2(pinned, d, n * sizeof(unsigned), blocking);
    cuStreamSynchronize(blocking);
    Check(pinned[0] == seven, "a blocking stream waits for the legacy stream");

    cuMemsetD32Async(d, 9u, n, blocking);
    cuMemcpyDtoH_v2(back.data(), d, n * sizeof(unsigned));
    Check(back[0] == 9u, "the legacy stream waits for a blocking stream");

    cuMemsetD32_v2((uint64_t)(uintptr_t)pinned, 11u, n);
    Check(pinned[0] == 11u && pinned[n - 1] == 11u, "a memset of pinned host memory returns once it is done");

    cuEventDestroy_v2(event);
    cuStreamDestroy_v2(blocking);
    cuStreamDestroy_v2(nonBlocking);
    cuMemFreeHost(pinned);
    cuMemFree_v2(d);
}

template <class T> std::vector<T> Download(uint64_t d, size_t n)
{
    std::vector<T> host(n);
    cuMemcpyDtoH_v2(host.data(), d, n * sizeof(T));
    return host;
}
} // namespace

// What a launch writes to stderr (the emulator's reason for a failure), and its status after a synchronization.
std::string StderrOf(const std::function<int()>& launch, int* status)
{
    fflush(stderr);
    char path[] = "/tmp/rose-emu-selftest-XXXXXX";
    const int fd = mkstemp(path);
    const int saved = dup(2);
    dup2(fd, 2);
    *status = launch();
    if (*status == 0) *status = cuCtxSynchronize();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    std::string text;
    char buffer[4096];
    lseek(fd, 0, SEEK_SET);
    for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) text.append(buffer, n);
    close(fd);
    unlink(path);
    return text;
}

// An image built with the race check switched the other way (a kernel cache that both settings share) is
// refused with a message rather than loaded, which would drop the check (or keep it) without a word.
void ImagesOfTheOtherRaceCheckSwitchAreRefused()
{
    const char* was = getenv("ROSE_EMU_RACECHECK");
    const std::string saved = was ? was : "";
    const bool on = !(was && strcmp(was, "0") == 0);
    const std::vector<char> image = BuildImage();
    setenv("ROSE_EMU_RACECHECK", on ? "0" : "1", 1);
    void* module = nullptr;
    int status;
    const std::string message = StderrOf([&] { return cuModuleLoadData(&module, image.data()); }, &status);
    if (was) setenv("ROSE_EMU_RACECHECK", saved.c_str(), 1);
    else unsetenv("ROSE_EMU_RACECHECK");
    Check(status == 200 && message.find(on ? "built with the race check" : "built without the race check") != std::string::npos,
          "an image of the other race-check switch is refused: " + message);
}

// A launch of `name` on a row of `grid` blocks of `block` threads: its status after a synchronization, and
// in *message what it wrote to stderr.
int LaunchReporting(void* module, const char* name, unsigned grid, unsigned block, unsigned sharedBytes, void** args,
    std::string* message)
{
    int status;
    *message = StderrOf([&] { return cuLaunchKernel(Kernel(module, name), grid, 1, 1, block, 1, 1, sharedBytes, nullptr, args, nullptr); },
                        &status);
    return status;
}

// The race check: unordered accesses of two threads to shared memory, or of two blocks to device memory,
// fail the launch with both source lines; a barrier (or __syncwarp within a warp) between two threads, a
// later launch, or atomics, pass.
void RaceChecks(void* module)
{
    uint64_t dout;
    cuMemAlloc_v2(&dout, 128 * sizeof(int));   // 512 bytes: the race reports name the size
    uint64_t dx;
    cuMemAlloc_v2(&dx, 10 * sizeof(float));
    auto exchange = [&](int sync, int far, int dynamic, std::string* message) {
        void* args[] = {&sync, &far, &dynamic, &dout};
        return LaunchReporting(module, "exchange", 2, 64, dynamic ? 64 * sizeof(int) : 0, args, message);
    };
    std::string message;
    int status;
    status = exchange(0, 0, 0, &message);
    Check(status == 719, "a read of another lane's shared write with no barrier between fails the launch");
    Check(message.find("shared-memory race") != std::string::npos && message.find("`slots`") != std::string::npos &&
              message.find("selftest.cu:") != std::string::npos,
          "the race names the array and the source lines: " + message);
    status = exchange(1, 0, 0, &message);
    Check(status == 0 && message.empty(), "__syncthreads orders them: " + message);
    status = exchange(2, 0, 0, &message);
    Check(status == 0 && message.empty(), "__syncwarp orders lanes of one warp: " + message);
    status = exchange(2, 1, 0, &message);
    Check(status == 719, "__syncwarp does not order two warps");
    status = exchange(1, 1, 0, &message);
    Check(status == 0 && message.empty(), "__syncthreads orders two warps: " + message);
    status = exchange(0, 0, 1, &message);
    Check(status == 719 && message.find("dynamic shared memory") != std::string::npos,
          "a race in dynamic shared memory is found too: " + message);
    status = exchange(1, 1, 1, &message);
    Check(status == 0 && message.empty(), "and a barrier orders it: " + message);
    auto readWrite = [&](int lead, int sync, std::string* message) {
        void* args[] = {&lead, &sync, &dout};
        return LaunchReporting(module, "one_reads_one_writes", 1, 32, 0, args, message);
    };
    std::string other;
    const bool both = readWrite(0, 0, &message) == 719 && readWrite(1, 0, &other) == 719;
    Check(both && (message + other).find(" writes ") != std::string::npos && (message + other).find(" reads ") != std::string::npos,
          "a read and a write of one cell race whichever runs first: " + message + " / " + other);
    status = readWrite(0, 1, &message);
    Check(status == 0 && message.empty(), "a barrier between the read and the write orders them: " + message);
    status = readWrite(1, 1, &message);
    Check(status == 0 && message.empty(), "whichever runs first: " + message);
    auto bytesAndWords = [&](int mode, int sync, std::string* message) {
        void* args[] = {&mode, &sync, &dout};
        return LaunchReporting(module, "bytes_and_words", 1, 32, 0, args, message);
    };
    status = bytesAndWords(0, 0, &message);
    Check(status == 0 && message.empty(), "threads writing and reading their own bytes of one word do not race: " + message);
    status = bytesAndWords(1, 0, &message);
    Check(status == 719 && message.find("`words`") != std::string::npos,
          "a word read takes in the bytes other threads wrote with no barrier between: " + message);
    status = bytesAndWords(1, 1, &message);
    Check(status == 0 && message.empty(), "after a barrier it does not race: " + message);
    status = bytesAndWords(2, 0, &message);
    Check(status == 719, "a byte read races with another thread's write of its whole word: " + message);
    status = bytesAndWords(2, 1, &message);
    Check(status == 0 && message.empty(), "after a barrier it does not: " + message);
    auto blocksShare = [&](int mode, std::string* message) {
        void* args[] = {&mode, &dout};
        return LaunchReporting(module, "blocks_share", 8, 128, 0, args, message);
    };
    status = blocksShare(0, &message);
    Check(status == 0 && message.empty(), "blocks writing words of their own do not race: " + message);
    status = blocksShare(6, &message);
    Check(status == 0 && message.empty(), "reading words an earlier launch wrote does not race: " + message);
    status = blocksShare(1, &message);
    Check(status == 719 && message.find("device-memory race between blocks") != std::string::npos &&
              message.find("selftest.cu:") != std::string::npos && message.find(" wrote at ") != std::string::npos,
          "two blocks writing one word race, with both source lines: " + message);
    status = blocksShare(2, &message);
    Check(status == 719 && message.find("device-memory race") != std::string::npos,
          "a block reading a word another block of the launch writes races, whichever runs first: " + message);
    status = blocksShare(3, &message);
    Check(status == 0 && message.empty(), "blocks reading one word do not race: " + message);
    status = blocksShare(4, &message);
    Check(status == 0 && message.empty(), "atomics on one word of device memory do not race: " + message);
    status = blocksShare(5, &message);
    Check(status == 0 && message.empty(), "blocks writing their own bytes of one word do not race: " + message);
    // Records carry 16 bits of the launch count: crossing 65536 drops them all, so a later launch with the
    // same stamp does not take an old launch's writes for its own blocks'.
    rose_emu_set_launch_count(0xfffe);
    status = blocksShare(0, &message);   // stamped 0xffff
    status |= blocksShare(3, &message);  // the count wraps
    rose_emu_set_launch_count(0x1fffe);
    status |= blocksShare(6, &message);  // stamped 0xffff again: reads what blocks wrote 65536 launches before
    Check(status == 0 && message.empty(), "records of a launch 65536 launches back are forgotten: " + message);
    // Shared memory a block reads without any of its threads having written it.
    auto sharedUnwritten = [&](int mode, std::string* message) {
        void* args[] = {&mode, &dout};
        return LaunchReporting(module, "shared_unwritten", 2, 32, 0, args, message);
    };
    status = sharedUnwritten(0, &message);
    Check(status == 0 && message.empty(), "cells the block wrote before a barrier read clean: " + message);
    status = sharedUnwritten(1, &message);
    Check(status == 719 && message.find("read of unwritten shared memory in block (") != std::string::npos &&
              message.find(" of `cells` at selftest.cu:") != std::string::npos,
          "a read of a cell no thread of the block wrote fails: " + message);
    status = sharedUnwritten(2, &message);
    Check(status == 719 && message.find("read of unwritten shared memory in block (0,0,0)") != std::string::npos,
          "what an earlier block wrote is not this block's: " + message);

    // Alignment: an access of n bytes at an address that is not a multiple of n.
    auto alignedOrNot = [&](int mode, int bytes, std::string* message) {
        void* args[] = {&mode, &bytes, &dout};
        return LaunchReporting(module, "aligned_or_not", 1, 1, 0, args, message);
    };
    status = alignedOrNot(0, 4, &message);
    status |= alignedOrNot(1, 6, &message);
    status |= alignedOrNot(2, 8, &message);
    status |= alignedOrNot(3, 4, &message);
    Check(status == 0 && message.empty(), "accesses at multiples of their size are aligned: " + message);
    status = alignedOrNot(0, 2, &message);
    Check(status == 719 && message.find("misaligned 4-byte read in block (0,0,0): thread (0,0,0) reads byte 2 of a 512-byte allocation at "
                                        "selftest.cu:") != std::string::npos,
          "a 4-byte read at an offset of 2 is misaligned: " + message);
    status = alignedOrNot(1, 5, &message);
    Check(status == 719 && message.find("misaligned 2-byte write") != std::string::npos, "so is a 2-byte write at an odd byte: " + message);
    status = alignedOrNot(2, 4, &message);
    Check(status == 719 && message.find("misaligned 8-byte read") != std::string::npos, "and an 8-byte read at 4: " + message);
    status = alignedOrNot(3, 2, &message);
    Check(status == 719 && message.find("reads byte 2 of `cells`") != std::string::npos, "and in shared memory: " + message);

    // The bounds check: device memory outside every allocation, short of the guard page (dx was allocated
    // before the launch stamps wrapped above, which drops every record: the driver marks it again).
    auto touchAt = [&](int at, int write, std::string* message) {
        void* args[] = {&dx, &at, &write, &dout};
        return LaunchReporting(module, "touch_at", 1, 1, 0, args, message);
    };
    status = touchAt(0, 1, &message);
    status |= touchAt(9, 1, &message);
    status |= touchAt(9, 0, &message);
    Check(status == 0 && message.empty(), "the first and last elements are in bounds: " + message);
    status = touchAt(10, 0, &message);
    Check(status == 719 && message.find("device-memory access out of bounds in block (0,0,0): thread (0,0,0) reads byte 40 of a 40-byte "
                                        "allocation at selftest.cu:") != std::string::npos,
          "a read just past the end is out of bounds, with its source line: " + message);
    status = touchAt(20, 1, &message);
    Check(status == 719 && message.find("writes byte 80 of a 40-byte allocation") != std::string::npos,
          "a write past the end is out of bounds: " + message);
    status = touchAt(-1, 0, &message);
    Check(status == 719 && message.find("reads 4 bytes before the start of a 40-byte allocation") != std::string::npos,
          "a read before the start is out of bounds: " + message);
    cuMemFree_v2(dx);
    cuMemAlloc_v2(&dx, 10 * sizeof(float));   // where the last one was, most likely: its marks are its own
    status = touchAt(9, 1, &message);
    status |= touchAt(9, 0, &message);
    Check(status == 0 && message.empty(), "a new allocation in a freed one's place is in bounds to its end: " + message);

    // The initialization check: a kernel's read of device memory that nothing has written since it was allocated.
    status = touchAt(3, 0, &message);
    Check(status == 719 && message.find("read of unwritten device memory in block (0,0,0): thread (0,0,0) reads byte 12 of a 40-byte "
                                        "allocation at selftest.cu:") != std::string::npos,
          "a read of a fresh allocation's element that nothing wrote fails: " + message);
    uint64_t dy;
    cuMemAlloc_v2(&dy, 10 * sizeof(float));
    cuMemcpyDtoD_v2(dx, dy, 10 * sizeof(float));   // dy was never written: neither is dx after the copy
    status = touchAt(3, 0, &message);
    Check(status == 719 && message.find("reads byte 12 of a 40-byte") != std::string::npos,
          "a copy of memory nothing wrote writes nothing: " + message);
    cuMemsetD32_v2(dy, 0u, 10);
    cuMemcpyDtoD_v2(dx, dy, 10 * sizeof(float));
    status = touchAt(3, 0, &message);
    Check(status == 0 && message.empty(), "after a memset and a copy of it, it reads what they wrote: " + message);
    const std::vector<float> ten(10, 1.0f);
    cuMemFree_v2(dy);
    cuMemAlloc_v2(&dy, 10 * sizeof(float));
    cuMemcpyHtoD_v2(dy, ten.data(), 10 * sizeof(float));
    std::swap(dx, dy);
    status = touchAt(3, 0, &message);
    Check(status == 0 && message.empty(), "an upload writes: " + message);
    cuMemFree_v2(dx);
    cuMemFree_v2(dy);
    auto threadsShare = [&](int mode, std::string* message) {
        void* args[] = {&mode, &dout};
        return LaunchReporting(module, "threads_share", 1, 64, 0, args, message);
    };
    status = threadsShare(0, &message);
    Check(status == 0 && message.empty(), "threads writing and reading words of their own do not race: " + message);
    status = threadsShare(1, &message);
    Check(status == 719 && message.find("device-memory race in block (0,0,0)") != std::string::npos &&
              message.find("thread (33,0,0) reads byte 0 of a 512-byte allocation at selftest.cu:") != std::string::npos &&
              message.find("that thread (0,0,0) wrote at selftest.cu:") != std::string::npos,
          "a thread reading a word another thread of its block writes races, with the allocation and both source lines: " + message);
    status = threadsShare(2, &message);
    Check(status == 0 && message.empty(), "__syncthreads orders device memory between the threads of a block: " + message);
    status = threadsShare(3, &message);
    Check(status == 0 && message.empty(), "__syncwarp orders it between the lanes of a warp: " + message);
    status = threadsShare(4, &message);
    Check(status == 719 && message.find("device-memory race in block") != std::string::npos, "a shuffle orders no memory: " + message);
    status = threadsShare(5, &message);
    Check(status == 0 && message.empty(), "threads writing their own bytes of device words do not race: " + message);
    status = threadsShare(6, &message);
    Check(status == 719 && message.find("reads byte 1 of a 512-byte allocation") != std::string::npos,
          "a byte read races with another thread's write of its whole word: " + message);
    status = threadsShare(0, &message);
    status |= threadsShare(7, &message);
    Check(status == 0 && message.empty(), "reading a word an earlier launch wrote does not race: " + message);
    status = threadsShare(8, &message);
    Check(status == 0 && message.empty(), "atomics on one word of device memory do not race within a block: " + message);
    void* args[] = {&dout};
    status = LaunchReporting(module, "shared_counter", 1, 96, 0, args, &message);
    Check(status == 0 && message.empty() && Download<unsigned>(dout, 1)[0] == 96, "atomics on one shared word do not race: " + message);
    cuMemFree_v2(dout);
}

int main()
{
    void* context = nullptr;
    {   // A thread has no current context until it binds one, and the driver refuses to work there before.
        Check(cuInit(0) == 0 && cuDevicePrimaryCtxRetain(&context, 0) == 0, "primary context");
        int unbound = -1, bound = -1;
        fprintf(stderr, "(an expected context error follows)\n");
        std::thread([&] {
            uint64_t d = 0;
            unbound = cuMemAlloc_v2(&d, 64);
            cuCtxSetCurrent(context);
            bound = cuMemAlloc_v2(&d, 64);
            cuMemFree_v2(d);
        }).join();
        Check(unbound == 201, "a thread with no current context gets CUDA_ERROR_INVALID_CONTEXT");
        Check(bound == 0, "the same thread allocates once it binds the context");
        Check(cuCtxSetCurrent(context) == 0, "the main thread binds the context");
    }
    // Modules load with as many copies as there are workers: four, whatever this host's cores.
    rose_emu_set_workers(4);
    void* module = LoadModule();
    ImagesOfTheOtherRaceCheckSwitchAreRefused();

    {   // 3 blocks of 256: shuffles within warps, a barrier across them.
        std::vector<float> x(768);
        for (size_t i = 0; i < x.size(); i++) x[i] = (float)(i % 97);
        uint64_t dx = Upload(x), dout;
        cuMemAlloc_v2(&dout, 3 * sizeof(float));
        void* args[] = {&dx, &dout};
        Check(cuLaunchKernel(Kernel(module, "block_sum"), 3, 1, 1, 256, 1, 1, 0, nullptr, args, nullptr) == 0, "block_sum launch");
        auto out = Download<float>(dout, 3);
        for (int b = 0; b < 3; b++)
        {
            float expected = 0;
            for (int i = 0; i < 256; i++) expected += x[b * 256 + i];
            Check(out[b] == expected, "block_sum block " + std::to_string(b));
        }
        cuMemFree_v2(dx);
        cuMemFree_v2(dout);
    }

    {   // 512 blocks shared out over four workers, each block's sum and every atomic as on one.
        const unsigned blocks = 512, threads = 128;
        std::vector<float> x(blocks * threads);
        for (size_t i = 0; i < x.size(); i++) x[i] = (float)(i % 101);
        std::vector<unsigned> zero(1, 0u);
        uint64_t dx = Upload(x), counter = Upload(zero), dout;
        cuMemAlloc_v2(&dout, blocks * sizeof(float));
        void* args[] = {&dx, &counter, &dout};
        Check(cuLaunchKernel(Kernel(module, "slice_sums"), blocks, 1, 1, threads, 1, 1, 0, nullptr, args, nullptr) == 0, "slice_sums launch");
        auto out = Download<float>(dout, blocks);
        bool sums = true;
        for (unsigned b = 0; b < blocks; b++)
        {
            float expected = 0.0f;
            for (unsigned i = 0; i < threads; i++) expected += x[b * threads + i];
            sums = sums && out[b] == expected;
        }
        Check(sums, "blocks on several workers keep their static shared memory apart");
        Check(Download<unsigned>(counter, 1)[0] == blocks * threads * 64, "atomics from blocks on several workers all count");
        cuMemFree_v2(dx);
        cuMemFree_v2(counter);
        cuMemFree_v2(dout);
    }

    {   // A kernel compiled for at most 64 threads a block is refused more, as a GPU refuses it.
        uint64_t dout;
        cuMemAlloc_v2(&dout, 128 * sizeof(int));   // 512 bytes: the race reports name the size
    uint64_t dx;
    cuMemAlloc_v2(&dx, 10 * sizeof(float));
        void* args[] = {&dout};
        fprintf(stderr, "(an expected refusal follows)\n");
        Check(cuLaunchKernel(Kernel(module, "bounded"), 1, 1, 1, 128, 1, 1, 0, nullptr, args, nullptr) == 701,
              "a block larger than __launch_bounds__ is refused (CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES)");
        Check(cuLaunchKernel(Kernel(module, "bounded"), 2, 1, 1, 64, 1, 1, 0, nullptr, args, nullptr) == 0, "a block within it runs");
        cuMemFree_v2(dout);
    }

    {   // Blocks run once each, not in index order (a GPU promises none).
        const unsigned gx = 7, gy = 3, total = gx * gy;
        std::vector<unsigned> zero(1, 0u);
        uint64_t counter = Upload(zero), dout;
        cuMemAlloc_v2(&dout, total * sizeof(unsigned));
        void* args[] = {&counter, &dout};
        Check(cuLaunchKernel(Kernel(module, "run_order"), gx, gy, 1, 32, 1, 1, 0, nullptr, args, nullptr) == 0, "run_order launch");
        auto out = Download<unsigned>(dout, total);
        std::vector<bool> seen(total, false);
        bool inOrder = true;
        for (unsigned b = 0; b < total; b++)
        {
            if (out[b] < total) seen[out[b]] = true;
            inOrder = inOrder && out[b] == b;
        }
        bool permutation = true;
        for (bool s : seen) permutation = permutation && s;
        Check(permutation, "every block of a launch runs exactly once");
        Check(!inOrder, "blocks do not run in index order");
        cuMemFree_v2(counter);
        cuMemFree_v2(dout);
    }

    {   // Dynamic shared memory, sized at launch.
        std::vector<int> x(96);
        for (int i = 0; i < 96; i++) x[i] = i * 3;
        uint64_t dx = Upload(x), dout;
        cuMemAlloc_v2(&dout, x.size() * sizeof(int));
        void* args[] = {&dx, &dout};
        Check(cuLaunchKernel(Kernel(module, "reverse_in_shared"), 1, 1, 1, 96, 1, 1, 96 * sizeof(int), nullptr, args, nullptr) == 0,
              "reverse_in_shared launch");
        auto out = Download<int>(dout, 96);
        for (int i = 0; i < 96; i++) Check(out[i] == x[95 - i], "reverse_in_shared element " + std::to_string(i));
    }

    {   // __activemask in the partial last iteration of a warp-strided loop.
        const int n = 11;
        uint64_t dactive, dpeers;
        cuMemAlloc_v2(&dactive, 32 * sizeof(unsigned));
        cuMemAlloc_v2(&dpeers, 32 * sizeof(unsigned));
        int nArg = n;
        void* args[] = {&nArg, &dactive, &dpeers};
        Check(cuLaunchKernel(Kernel(module, "active_peers"), 1, 1, 1, 32, 1, 1, 0, nullptr, args, nullptr) == 0, "active_peers launch");
        auto active = Download<unsigned>(dactive, 32);
        auto peers = Download<unsigned>(dpeers, 32);
        const unsigned lanes = (1u << n) - 1;
        for (int l = 0; l < n; l++)
        {
            Check(active[l] == lanes, "active mask of lane " + std::to_string(l));
            Check(peers[l] == (lanes & (l & 1 ? 0xaaaaaaaau : 0x55555555u)), "match_any peers of lane " + std::to_string(l));
        }
    }

    {   // Static shared memory starts as garbage in every block.
        uint64_t dout;
        cuMemAlloc_v2(&dout, 2 * 64 * sizeof(int));
        void* args[] = {&dout};
        Check(cuLaunchKernel(Kernel(module, "unwritten_shared"), 2, 1, 1, 64, 1, 1, 0, nullptr, args, nullptr) == 0, "unwritten_shared launch");
        auto out = Download<int>(dout, 128);
        for (int i = 0; i < 128; i++) Check(out[i] == -1, "unwritten shared memory reads as 0xff bytes, element " + std::to_string(i));
    }

    {   // A rendezvous some lanes never reach fails the launch instead of hanging.
        uint64_t dout;
        cuMemAlloc_v2(&dout, 64 * sizeof(float));
        void* args[] = {&dout};
        fprintf(stderr, "(an expected launch error follows)\n");
        // Queued, the launch fails when it runs: the next synchronization reports it, as on a GPU.
        int status = cuLaunchKernel(Kernel(module, "divergent"), 1, 1, 1, 32, 1, 1, 0, nullptr, args, nullptr);
        if (status == 0) status = cuCtxSynchronize();
        Check(status == 719, "a divergent shuffle gives CUDA_ERROR_LAUNCH_FAILED, got " + std::to_string(status));
        Check(cuCtxSynchronize() == 0, "a failure is reported once");
    }

    // Reading past an allocation stops the process.
    Check(FaultsInAChild([&] {
              std::vector<float> x(100, 1.0f);
              uint64_t dx = Upload(x), dout;
              cuMemAlloc_v2(&dout, sizeof(float));
              int n = 128;   // x[192]: inside the inaccessible page after x's 512 bytes
              void* args[] = {&dx, &dout, &n};
              cuLaunchKernel(Kernel(module, "past_the_end"), 1, 1, 1, 1, 1, 1, 0, nullptr, args, nullptr);
          }),
          "a read past the end of an allocation faults");

    {   // A copy or memset whose device range leaves its allocation is refused (CUDA_ERROR_INVALID_VALUE), as
        // the driver refuses it, instead of writing past the end short of the guard page.
        std::vector<float> eleven(11, 2.0f);
        uint64_t dx;
        cuMemAlloc_v2(&dx, 10 * sizeof(float));
        int status;
        std::string message = StderrOf([&] { return cuMemcpyHtoD_v2(dx, eleven.data(), 11 * sizeof(float)); }, &status);
        Check(status == 1 && message.find("at byte 0 of a 40-byte allocation runs past its end") != std::string::npos,
              "a copy longer than its allocation is refused: " + message);
        message = StderrOf([&] { return cuMemsetD32_v2(dx + 4 * sizeof(float), 0u, 7); }, &status);
        Check(status == 1 && message.find("at byte 16 of a 40-byte allocation runs past its end") != std::string::npos,
              "so is a memset: " + message);
        message = StderrOf([&] { return cuMemcpyDtoD_v2(dx, dx + 5 * sizeof(float), 5 * sizeof(float)); }, &status);
        Check(status == 0 && message.empty(), "a copy within one allocation is not: " + message);
        cuMemFree_v2(dx);
    }

    // So does indexing past the dynamic shared memory a launch asked for.
    Check(FaultsInAChild([&] {
              uint64_t dout;
              cuMemAlloc_v2(&dout, sizeof(float));
              int n = 64;   // 64 floats asked for, element 64 + 16 read
              void* args[] = {&dout, &n};
              cuLaunchKernel(Kernel(module, "past_shared"), 1, 1, 1, 32, 1, 1, n * sizeof(float), nullptr, args, nullptr);
          }),
          "a read past the dynamic shared memory faults");

    const char* racecheck = getenv("ROSE_EMU_RACECHECK");
    if (!(racecheck && strcmp(racecheck, "0") == 0)) RaceChecks(module);

    const char* mode = getenv("ROSE_EMU_STREAMS");
    if (!(mode && strcmp(mode, "eager") == 0)) StreamChecks();

    if (failures == 0) printf("emu_selftest: all checks passed\n");
    return failures == 0 ? 0 : 1;
}
