// Forced-included (g++ -include) before a kernel file when the fake NVRTC builds it for the CPU
// emulator. It gives the CUDA C++ subset our kernels use a CPU meaning, so the .cu text itself is
// what runs — not a port of it:
//   * every CUDA thread of a block is a fiber on one OS thread; a launch's blocks are shared out
//     over a few OS threads (the driver's workers), each running its share one block after another
//     in its own copy of the module (fake_cuda.cpp loads one per worker), so `__shared__` can simply
//     be a function-local static (refilled with garbage as each block starts:
//     rose_emu_poison_shared) and the scheduler's state a plain static too. Blocks start in a
//     scrambled order (BlockOrder), since a GPU promises none and a kernel whose block reads what a
//     lower-numbered block of the same launch wrote would otherwise pass here;
//   * __syncthreads, warp shuffles/votes and mma.sync are rendezvous points: a fiber parks there
//     and the block scheduler releases a barrier once every live thread it concerns has arrived,
//     running the threads in alternating order between barriers. A barrier that can never
//     complete (divergence) fails the launch instead of hanging;
//   * a block whose thread 0 finishes without meeting any barrier runs its other threads as plain
//     calls (elementwise kernels would otherwise pay two context switches per element).
//   * with ROSE_EMU_RACECHECK (the default; fake_nvrtc.cpp), every load and store is checked for a
//     race on shared memory between threads of the block, and on device memory between threads of the
//     block and between blocks of the launch (the race check, below; the driver keeps device memory's
//     records between blocks, emu_device_memory.h); an access to device memory outside every
//     allocation (the bounds check: the driver marks each allocation's slack), an n-byte access at
//     an address that is not a multiple of n (which stops a GPU's kernel), or a read of device memory
//     nothing has written since its allocation (the initialization check), fails the launch.
// What it cannot show: the memory model (fences, a flag one thread spins on), timing.
#pragma once

#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

// With the race check, the emulator's own code is not instrumented: its state is no kernel's shared
// memory, and checking each of its accesses (four for every use of threadIdx) made the check several
// times slower.
#if defined(ROSE_EMU_RACECHECK)
#define ROSE_EMU_QUIET __attribute__((no_sanitize_thread))
#else
#define ROSE_EMU_QUIET
#endif

struct uint3 { unsigned x, y, z; };
struct dim3 { unsigned x, y, z; };

namespace rose_emu
{
enum Wait { Running, AtBlock, AtWarp, AtActive };

// ROSE_EMU_UCONTEXT forces the portable swapcontext fibers on x86-64 too, so that path (the one other
// architectures take) is tested here (tests/CudaEmulator/build.sh runs the self-test both ways).
#if defined(__x86_64__) && !defined(ROSE_EMU_UCONTEXT)
#define ROSE_EMU_FAST_SWITCH 1
#endif

#if defined(ROSE_EMU_FAST_SWITCH)
// A fiber switch saves the callee-saved registers on the old stack and pops them from the new one:
// no signal-mask system call as in swapcontext, which made barrier-heavy kernels spend most of
// their time in the kernel.
extern "C" void rose_emu_switch(void** save, void* next);
asm(R"(
    .text
    .globl rose_emu_switch
    .hidden rose_emu_switch
    .type rose_emu_switch, @function
rose_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size rose_emu_switch, .-rose_emu_switch
)");
struct Context
{
    void* sp = nullptr;
};
#else
struct Context
{
    ucontext_t uc;
};
#endif

struct Thread
{
    Context ctx;
    uint3 idx;
    int linear, lane;
    Wait wait;
    unsigned mask;          // lanes a warp rendezvous waits for; after __activemask, the lanes found
    bool started, done;
    uint64_t slot[8];       // what this lane offers to a warp collective
    bool atSyncwarp;        // parked at __syncwarp (not a shuffle or vote), which orders memory
    uint32_t syncs;         // __syncwarp barriers this lane has left, in the current block
    unsigned syncMask;      // the lanes the last of them waited for
};

#if defined(ROSE_EMU_RACECHECK)
// One access to shared memory, for the race check: the thread (linear id + 1; 0 for none), its
// __syncwarp count then, the barrier interval it happened in (its low 32 bits), and where (the code's
// offset in the module).
struct Access
{
    uint32_t thread, syncs, phase, pc;
};
// What the check keeps of a cell (a byte, or a word whose bytes agree): its last write and last two readers.
struct Shadow
{
    Access write, read, otherRead;
};
// The check's records for one shared array. A 4-byte word keeps one record while the accesses to it
// cover it whole (a float, an int: nearly all of them), a quarter of the memory and cache lines of a
// record per byte; a narrower or misaligned access splits it into one per byte, with the same
// records, and a whole-word write, which leaves its bytes' records alike, joins them again.
struct SharedRegion
{
    uintptr_t lo, hi;
    const char* name;
    uintptr_t base;          // lo rounded down to a word
    Shadow* words;           // one per word from base, calloc'd: zeros are "no access"
    Shadow* bytes;           // one per byte from base, allocated at the first split
    unsigned char* split;    // per word: its bytes keep records of their own
};
ROSE_EMU_QUIET inline SharedRegion make_region(uintptr_t lo, uintptr_t hi, const char* name)
{
    const uintptr_t base = lo & ~(uintptr_t)3;
    const size_t words = (hi - base + 3) / 4 + 1;
    return SharedRegion{lo, hi, name, base, (Shadow*)calloc(words, sizeof(Shadow)), nullptr, (unsigned char*)calloc(words, 1)};
}
ROSE_EMU_QUIET inline void release_region(SharedRegion& r)
{
    free(r.words);
    free(r.bytes);
    free(r.split);
    r = SharedRegion{0, 0, "", 0, nullptr, nullptr, nullptr};
}
// Device memory's records between the threads of one block (the driver keeps those between blocks,
// emu_device_memory.h). A __syncthreads orders every access before it against every one after, so a
// record matters only within its barrier interval: each entry is stamped with its interval, one stamped
// with an earlier one counts as free, and the table empties itself at every barrier and every block for
// nothing. Open addressing by word address, linear probing, doubled when half full; a word split into
// bytes keeps their four records in `bytes`, which also empties with the interval.
struct DeviceWord
{
    uint64_t phase;      // the barrier interval of its records (State::phase, never 0 in a block); else free
    uintptr_t word;      // the word's address
    Shadow whole;
    uint32_t split;      // 1 + the index of its byte records in DeviceTable::bytes; 0 while whole
};
struct DeviceTable
{
    DeviceWord* slots = nullptr;
    size_t capacity = 0, live = 0;   // live: entries of the interval `phase`
    uint64_t phase = 0;
    Shadow* bytes = nullptr;
    size_t byteCount = 0, byteCapacity = 0;
};
// The first finding of a launch (found during a block, described with source lines after it): a race in
// shared memory (the other access a thread of the same block) or in device memory (another block, or another
// thread of the block), an access outside every allocation, a misaligned one, or a read of unwritten memory.
enum class Kind : unsigned char
{
    None, SharedRace, DeviceRaceBetweenBlocks, DeviceRaceInBlock, OutOfBounds, Misaligned, UnwrittenDevice, UnwrittenShared
};
struct Race
{
    Kind kind;
    uint3 block, thread, other;    // other: the other access's thread, or (between blocks) its block
    bool wrote, otherWrote;
    const char* array;             // a shared array's name, or "device memory"
    uintptr_t byte;                // the byte's offset in the array or allocation; out of bounds before its start
                                   // (`before`), the distance to it
    uint32_t pc, otherPc;
    uint64_t allocationBytes;
    bool before;
    unsigned size;                 // a misaligned access's size
    bool found() const { return kind != Kind::None; }
};
#endif
// The driver's hooks for device memory (fake_cuda.cpp): CheckDeviceAccess checks an access between blocks,
// WhereInDevice names an address's allocation (its offset there and the allocation's size) for a report.
using DeviceAccessFn = int (*)(uintptr_t, size_t, int, uint32_t, uint32_t, uint32_t*, uint32_t*, int*, uint64_t*, uint64_t*);
using DeviceWhereFn = void (*)(uintptr_t, uint64_t*, uint64_t*);

struct LaunchError : std::runtime_error
{
    using std::runtime_error::runtime_error;
};

struct State
{
    dim3 grid{1, 1, 1}, block{1, 1, 1};
    uint3 blockIdx{0, 0, 0};
    std::vector<Thread> threads;
    Thread* current = nullptr;
    bool fiberMode = false;
    bool sawBarrier = false;
    Context scheduler;
    void (*entry)(void**) = nullptr;
    void** params = nullptr;
    unsigned char* dynamicShared = nullptr;
    char* stacks = nullptr;
    size_t stackBytes = 0;
    size_t stacksMapped = 0;
    uint64_t blockSerial = 0;
    std::map<void*, uint64_t> sharedPoisoned;   // static shared array → block that last poisoned it
    // Barrier intervals, counted across blocks: a new block and every released __syncthreads start one.
    uint64_t phase = 0;
    uint64_t blockFirstPhase = 0;   // the running block's first barrier interval
    Thread* threadBase = nullptr;   // threads.data(), for code that must not call into the library
#if defined(ROSE_EMU_RACECHECK)
    SharedRegion regions[64];       // [0]: the launch's dynamic shared memory; then static arrays
    int regionCount = 1;
    bool checking = false;          // inside the check itself: its own accesses are not the kernel's
    Race race{};                    // the first race of this launch
    Race unwrittenRead{};           // the block's first read of shared memory no thread of it wrote
    DeviceTable deviceInBlock;      // device memory's records between this block's threads

    ~State()
    {
        for (int k = 1; k < regionCount; k++) release_region(regions[k]);
        free(deviceInBlock.slots);
        free(deviceInBlock.bytes);
    }
#endif
};

// The state once constructed, for the race check's hooks: they run inside State's own constructor too,
// where calling state() would wait for itself.
inline State* constructed = nullptr;

// On the heap, so that with the race check the module's static data holds little besides `__shared__`
// arrays (the check's first filter is the span they cover).
ROSE_EMU_QUIET inline State& state()
{
    static struct Holder
    {
        State* s;
        Holder() : s(new State) { constructed = s; }
        ~Holder() { delete s; }
    } holder;
    return *holder.s;
}

ROSE_EMU_QUIET inline void switch_to(Context& save, Context& next)
{
#if defined(ROSE_EMU_FAST_SWITCH)
    rose_emu_switch(&save.sp, next.sp);
#else
    swapcontext(&save.uc, &next.uc);
#endif
}

ROSE_EMU_QUIET inline void park(Wait wait, unsigned mask)
{
    State& s = state();
    if (!s.fiberMode)
        throw LaunchError("a thread met a barrier or warp collective that thread 0 of its block never met (divergent barrier)");
    Thread* t = s.current;
    t->wait = wait;
    t->mask = mask;
    s.sawBarrier = true;
    switch_to(t->ctx, s.scheduler);
}

ROSE_EMU_QUIET inline Thread& lane_thread(const Thread& me, int lane) { return state().threads[me.linear - me.lane + lane]; }

template <class T> ROSE_EMU_QUIET inline void offer(T v, int word = 0)
{
    static_assert(sizeof(T) <= 8, "warp collectives move at most 64 bits");
    memcpy(&state().current->slot[word], &v, sizeof(T));
}

template <class T> ROSE_EMU_QUIET inline T taken(const Thread& from, int word = 0)
{
    T v;
    memcpy(&v, &from.slot[word], sizeof(T));
    return v;
}

// A fiber's first frame: runs the kernel for the thread being resumed, then hands control back for good.
ROSE_EMU_QUIET inline void fiber_main()
{
    State& s = state();
    Thread* t = s.current;
    s.entry(s.params);
    t->done = true;
    switch_to(t->ctx, s.scheduler);
    __builtin_unreachable();
}

ROSE_EMU_QUIET inline void start(Thread& t)
{
    State& s = state();
    char* base = s.stacks + (size_t)t.linear * s.stackBytes;
#if defined(ROSE_EMU_FAST_SWITCH)
    // The frame rose_emu_switch pops: six registers, then fiber_main as the return address, placed
    // so that fiber_main starts with the stack alignment of a called function.
    auto* top = (void**)(((uintptr_t)(base + s.stackBytes) & ~(uintptr_t)15) - 16);
    top[0] = (void*)fiber_main;
    top[1] = nullptr;
    void** frame = top - 6;
    for (int r = 0; r < 6; r++) frame[r] = nullptr;
    t.ctx.sp = frame;
#else
    getcontext(&t.ctx.uc);
    t.ctx.uc.uc_stack.ss_sp = base;
    t.ctx.uc.uc_stack.ss_size = s.stackBytes;
    t.ctx.uc.uc_link = nullptr;
    makecontext(&t.ctx.uc, (void (*)())fiber_main, 0);
#endif
    t.started = true;
}

ROSE_EMU_QUIET inline void resume(Thread& t)
{
    State& s = state();
    if (!t.started) start(t);
    t.wait = Running;
    s.current = &t;
    switch_to(s.scheduler, t.ctx);
}

ROSE_EMU_QUIET inline std::string describe(const State& s)
{
    std::string text;
    for (const Thread& t : s.threads)
    {
        if (t.done) continue;
        const char* where = t.wait == AtBlock ? "__syncthreads" : t.wait == AtWarp ? "a warp collective" : "__activemask";
        text += " thread " + std::to_string(t.linear) + " at " + where + ";";
        if (text.size() > 300) { text += " …"; break; }
    }
    return text;
}

// Releases what can be released once every unfinished thread is parked; false when nothing can be
// (a barrier that will never complete). Warp rendezvous go first: a lane parked at __syncthreads
// while others of its warp wait for it in a shuffle is a divergence the GPU would hang on too.
ROSE_EMU_QUIET inline bool release(State& s)
{
    bool released = false;
    const int count = (int)s.threads.size();
    for (int w0 = 0; w0 < count; w0 += 32)
    {
        const int lanes = count - w0 < 32 ? count - w0 : 32;
        Thread* warp = &s.threads[w0];
        unsigned live = 0, atWarp = 0, atActive = 0;
        for (int l = 0; l < lanes; l++)
        {
            if (warp[l].done) continue;
            live |= 1u << l;
            if (warp[l].wait == AtWarp) atWarp |= 1u << l;
            else if (warp[l].wait == AtActive) atActive |= 1u << l;
        }
        // __activemask: the lanes that reached it together are the active ones.
        if (atActive != 0)
        {
            for (int l = 0; l < lanes; l++)
                if (atActive >> l & 1u) { warp[l].mask = atActive; warp[l].wait = Running; }
            released = true;
            continue;
        }
        unsigned ready = 0;
        for (int l = 0; l < lanes; l++)
            if ((atWarp >> l & 1u) && (warp[l].mask & live & ~atWarp) == 0) ready |= 1u << l;
        for (int l = 0; l < lanes; l++)
            if (ready >> l & 1u)
            {
                warp[l].wait = Running;
                if (warp[l].atSyncwarp)
                {
                    warp[l].atSyncwarp = false;
                    warp[l].syncs++;
                    warp[l].syncMask = warp[l].mask & live;
                }
            }
        released |= ready != 0;
    }
    if (released) return true;
    for (const Thread& t : s.threads)
        if (!t.done && t.wait != AtBlock) return false;
    for (Thread& t : s.threads) if (!t.done) t.wait = Running;
    s.phase++;
    return true;
}

ROSE_EMU_QUIET inline void run_block(State& s)
{
    const int count = (int)s.threads.size();
    s.blockSerial++;
    s.phase++;
    s.blockFirstPhase = s.phase;
    for (Thread& t : s.threads)
    {
        t.started = t.done = false;
        t.wait = Running;
        t.atSyncwarp = false;
        t.syncs = 0;
        t.syncMask = 0;
    }
    s.fiberMode = true;
    s.sawBarrier = false;
    resume(s.threads[0]);
    if (s.threads[0].done && !s.sawBarrier)
    {
        s.fiberMode = false;
        for (int i = 1; i < count; i++)
        {
            s.current = &s.threads[i];
            s.entry(s.params);
        }
        return;
    }
    // Threads run between barriers in alternating order, forward then backward, so a missing barrier
    // shows whichever of two threads was meant to write first.
    for (bool backward = false;; backward = !backward)
    {
        bool alive = false;
        for (int k = 0; k < count; k++)
        {
            Thread& t = s.threads[backward ? count - 1 - k : k];
            if (t.done) continue;
            if (t.wait == Running) resume(t);
            alive |= !t.done;
        }
        if (!alive) return;
        if (!release(s))
            throw LaunchError("block (" + std::to_string(s.blockIdx.x) + "," + std::to_string(s.blockIdx.y) + "," +
                              std::to_string(s.blockIdx.z) + ") can never leave its barriers:" + describe(s));
    }
}

template <class... P, size_t... I>
inline void call(void (*kernel)(P...), void** a, std::index_sequence<I...>)
{
    kernel(*static_cast<std::remove_cv_t<std::remove_reference_t<P>>*>(a[I])...);
}

template <class... P>
inline void call(void (*kernel)(P...), void** a)
{
    call(kernel, a, std::index_sequence_for<P...>{});
}

// The byte size of each of a kernel's parameters, as the driver must know them to copy a launch's
// arguments when it queues the launch (a real driver reads them from the cubin): writes at most
// `capacity` of them and returns how many parameters there are.
template <class... P>
inline int argument_sizes(void (*)(P...), unsigned* sizes, int capacity)
{
    const unsigned all[] = {0u, (unsigned)sizeof(std::remove_cv_t<std::remove_reference_t<P>>)...};
    const int count = (int)sizeof...(P);
    for (int i = 0; i < count && i < capacity; i++) sizes[i] = all[i + 1];
    return count;
}

// ---- the emulated instructions ---------------------------------------------------------------

inline float bf16_to_float(unsigned short v)
{
    const uint32_t u = (uint32_t)v << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

inline float half_to_float(unsigned short v)
{
    _Float16 h;
    memcpy(&h, &v, 2);
    return (float)h;
}

inline unsigned short float_to_half(float f)
{
    const _Float16 h = (_Float16)f;   // round to nearest even, as cvt.rn.f16.f32
    unsigned short v;
    memcpy(&v, &h, 2);
    return v;
}

// mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}.{bf16,f16}.f32 with D = C (in place), written from
// the PTX ISA's fragment tables, independently of the kernels that use it: with g = lane / 4 and
// c = lane % 4, A register r of a lane holds row g + 8·(r & 1), k = 2c + 8·(r >> 1) and k + 1
// (low half first); B register r holds k = 2c + 8·r and k + 1 of column g; D element e holds row
// g + 8·(e >> 1), column 2c + (e & 1).
ROSE_EMU_QUIET inline void mma_m16n8k16(float* d, const unsigned* a, unsigned b0, unsigned b1, float (*widen)(unsigned short))
{
    State& s = state();
    Thread* me = s.current;
    for (int r = 0; r < 4; r++) offer(a[r], r);
    offer(b0, 4);
    offer(b1, 5);
    park(AtWarp, 0xffffffffu);
    auto half = [&](unsigned reg, int k) ROSE_EMU_QUIET { return widen((unsigned short)(k & 1 ? reg >> 16 : reg & 0xffffu)); };
    auto A = [&](int row, int k) ROSE_EMU_QUIET {
        const Thread& from = lane_thread(*me, (row % 8) * 4 + (k % 8) / 2);
        return half(taken<unsigned>(from, (row / 8) + 2 * (k / 8)), k);
    };
    auto B = [&](int k, int col) ROSE_EMU_QUIET {
        const Thread& from = lane_thread(*me, col * 4 + (k % 8) / 2);
        return half(taken<unsigned>(from, 4 + k / 8), k);
    };
    const int g = me->lane / 4, c = me->lane % 4;
    float out[4];
    for (int e = 0; e < 4; e++)
    {
        const int row = g + 8 * (e >> 1), col = 2 * c + (e & 1);
        float sum = d[e];
        for (int k = 0; k < 16; k++) sum += A(row, k) * B(k, col);
        out[e] = sum;
    }
    park(AtWarp, 0xffffffffu);   // every lane has read the others' fragments
    for (int e = 0; e < 4; e++) d[e] = out[e];
}
} // namespace rose_emu


ROSE_EMU_QUIET inline void __syncthreads() { ::rose_emu::park(::rose_emu::AtBlock, 0); }
ROSE_EMU_QUIET inline void __syncwarp(unsigned mask = 0xffffffffu)
{
    ::rose_emu::state().current->atSyncwarp = true;
    ::rose_emu::park(::rose_emu::AtWarp, mask);
}

ROSE_EMU_QUIET inline unsigned __activemask()
{
    ::rose_emu::park(::rose_emu::AtActive, 0);
    return ::rose_emu::state().current->mask;
}

template <class T> ROSE_EMU_QUIET inline T rose_emu_shuffle(unsigned mask, T v, int source)
{
    using namespace ::rose_emu;
    Thread* me = state().current;
    offer(v);
    park(AtWarp, mask);
    const T r = taken<T>(lane_thread(*me, source));
    park(AtWarp, mask);
    return r;
}

template <class T> ROSE_EMU_QUIET inline T __shfl_sync(unsigned mask, T v, int src, int width = 32)
{
    const int lane = ::rose_emu::state().current->lane;
    return rose_emu_shuffle(mask, v, (lane & ~(width - 1)) + (src & (width - 1)));
}

template <class T> ROSE_EMU_QUIET inline T __shfl_xor_sync(unsigned mask, T v, int laneMask, int width = 32)
{
    const int lane = ::rose_emu::state().current->lane;
    const int src = lane ^ laneMask;
    return rose_emu_shuffle(mask, v, src >= ((lane / width) + 1) * width ? lane : src);
}

template <class T> ROSE_EMU_QUIET inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    const int lane = ::rose_emu::state().current->lane;
    const int src = lane + (int)delta;
    return rose_emu_shuffle(mask, v, src >= ((lane / width) + 1) * width ? lane : src);
}

template <class T> ROSE_EMU_QUIET inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    const int lane = ::rose_emu::state().current->lane;
    const int src = lane - (int)delta;
    return rose_emu_shuffle(mask, v, src < (lane / width) * width ? lane : src);
}

ROSE_EMU_QUIET inline unsigned __ballot_sync(unsigned mask, int predicate)
{
    using namespace ::rose_emu;
    Thread* me = state().current;
    offer<int>(predicate != 0);
    park(AtWarp, mask);
    unsigned bits = 0;
    for (int l = 0; l < 32; l++)
        if ((mask >> l & 1u) && me->linear - me->lane + l < (int)state().threads.size() && taken<int>(lane_thread(*me, l))) bits |= 1u << l;
    park(AtWarp, mask);
    return bits & mask;
}

inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
inline int __all_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) == mask; }

template <class T> ROSE_EMU_QUIET inline unsigned __match_any_sync(unsigned mask, T value)
{
    using namespace ::rose_emu;
    Thread* me = state().current;
    offer(value);
    park(AtWarp, mask);
    unsigned bits = 0;
    for (int l = 0; l < 32; l++)
        if ((mask >> l & 1u) && me->linear - me->lane + l < (int)state().threads.size()
            && taken<T>(lane_thread(*me, l)) == value) bits |= 1u << l;
    park(AtWarp, mask);
    return bits;
}

// Blocks of one launch run on several OS threads, so an atomic is one: a compare-and-swap loop on the
// value's bits (integers and floats alike; T is 4 or 8 bytes).
template <class T, class Next> ROSE_EMU_QUIET inline T rose_emu_atomic(T* p, Next next)
{
    static_assert(sizeof(T) == 4 || sizeof(T) == 8, "atomics on 32- and 64-bit values");
    using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    auto* word = reinterpret_cast<Bits*>(p);
    Bits seen = __atomic_load_n(word, __ATOMIC_RELAXED);
    for (;;)
    {
        T old, updated;
        memcpy(&old, &seen, sizeof old);
        updated = next(old);
        Bits want;
        memcpy(&want, &updated, sizeof want);
        if (__atomic_compare_exchange_n(word, &seen, want, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return old;
    }
}
template <class T> inline T atomicAdd(T* p, T v) { return rose_emu_atomic(p, [v](T old) { return (T)(old + v); }); }
template <class T> inline T atomicMax(T* p, T v) { return rose_emu_atomic(p, [v](T old) { return old < v ? v : old; }); }
template <class T> inline T atomicMin(T* p, T v) { return rose_emu_atomic(p, [v](T old) { return v < old ? v : old; }); }
template <class T> inline T atomicExch(T* p, T v) { return rose_emu_atomic(p, [v](T) { return v; }); }
template <class T> inline T atomicCAS(T* p, T compare, T v)
{
    return rose_emu_atomic(p, [compare, v](T old) { return old == compare ? v : old; });
}

template <class To, class From> inline To rose_emu_bits(From v)
{
    static_assert(sizeof(To) == sizeof(From), "bit casts keep the size");
    To r;
    memcpy(&r, &v, sizeof(To));
    return r;
}
inline float __int_as_float(int v) { return rose_emu_bits<float>(v); }
inline float __uint_as_float(unsigned v) { return rose_emu_bits<float>(v); }
inline int __float_as_int(float v) { return rose_emu_bits<int>(v); }
inline unsigned __float_as_uint(float v) { return rose_emu_bits<unsigned>(v); }
inline double __longlong_as_double(long long v) { return rose_emu_bits<double>(v); }
inline long long __double_as_longlong(double v) { return rose_emu_bits<long long>(v); }

inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __popcll(unsigned long long v) { return __builtin_popcountll(v); }
inline int __ffs(int v) { return __builtin_ffs(v); }
inline int __ffsll(long long v) { return __builtin_ffsll(v); }
inline int __clz(int v) { return v == 0 ? 32 : __builtin_clz((unsigned)v); }
inline int __clzll(long long v) { return v == 0 ? 64 : __builtin_clzll((unsigned long long)v); }

// Compiled with -ffp-contract=off, so these are single correctly rounded operations.
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
inline float rsqrtf(float v) { return 1.0f / sqrtf(v); }
inline double rsqrt(double v) { return 1.0 / sqrt(v); }
inline float __expf(float v) { return expf(v); }
inline float __logf(float v) { return logf(v); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }
template <class T> inline T __ldg(const T* p) { return *p; }

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

#if defined(ROSE_EMU_RACECHECK)
// ---- the race check ----------------------------------------------------------------------------
// fake_nvrtc.cpp builds kernels with g++'s -fsanitize=thread instrumentation, which calls the
// __tsan_* functions below on every load and store, but links no ThreadSanitizer runtime: these are
// ours. A load or store that falls in shared memory, or in device memory (which a __syncthreads
// orders between the threads of a block just as it orders shared memory), is checked against the
// byte's last write and last two readers, as compute-sanitizer's racecheck does for shared memory
// on a GPU: two threads' accesses to the same byte, at least one a write, race unless a
// __syncthreads lies between them, or a __syncwarp that both lanes took part in (same warp). The
// fibers run one at a time, so the order they happen to run in never hides a race: what counts is
// whether a barrier orders the two. Shuffles and votes order nothing (the programming guide promises
// memory ordering only for __syncwarp); atomics are not checked. Device memory is also checked
// between blocks, by the driver. The first race of a launch fails it, naming both threads, the array
// (or allocation), the byte and both source lines.
namespace rose_emu
{
#define ROSE_EMU_UNCHECKED __attribute__((no_sanitize_thread, noinline))
#define ROSE_EMU_UNCHECKED_INLINE __attribute__((no_sanitize_thread, always_inline))

// Whether an earlier access `a` is ordered before one by thread `me` (linear id + 1) in barrier interval `phase`.
ROSE_EMU_UNCHECKED_INLINE inline bool ordered(const Thread* threads, uint32_t phase, const Access& a, uint32_t me)
{
    if (a.phase != phase || a.thread == 0 || a.thread == me) return true;
    if ((a.thread - 1) >> 5 != (me - 1) >> 5) return false;
    const Thread& other = threads[a.thread - 1];
    return other.syncs != a.syncs && (other.syncMask >> ((me - 1) & 31) & 1u);
}

// The same thread, barrier interval and __syncwarp count: one access orders against others as the other does.
ROSE_EMU_UNCHECKED_INLINE inline bool same(const Access& a, const Access& b)
{
    return a.thread == b.thread && a.phase == b.phase && a.syncs == b.syncs;
}

// The span of the static `__shared__` arrays, of the launch's dynamic shared memory and of the driver's
// device-memory arena: other accesses (the fibers' stacks, host memory) fall outside all three and cost
// the check three pairs of comparisons.
inline uintptr_t staticSharedLo = UINTPTR_MAX, staticSharedHi = 0, dynamicSharedLo = 0, dynamicSharedHi = 0;
inline uintptr_t deviceLo = 0, deviceHi = 0;
inline DeviceAccessFn deviceAccess = nullptr;
inline DeviceWhereFn deviceWhere = nullptr;

ROSE_EMU_UNCHECKED inline void check_shared(const void* p, size_t n, bool write, void* pc);
ROSE_EMU_UNCHECKED inline void check_device(const void* p, size_t n, bool write, void* pc);
ROSE_EMU_UNCHECKED inline void misaligned(const void* p, size_t n, bool write, void* pc, bool device);

// `sized`: a load or store of n bytes (1 to 16) as the kernel wrote it, which a GPU requires to be aligned
// to n (a CPU does not), rather than a range (memcpy). fake_nvrtc.cpp builds checked kernels without the
// vectorizers and store merging, which would otherwise put several of the kernel's accesses in one wider one.
ROSE_EMU_UNCHECKED_INLINE inline void check(const void* p, size_t n, bool write, void* pc, bool sized)
{
    const uintptr_t start = (uintptr_t)p;
    const bool shared = (start < staticSharedHi && start + n > staticSharedLo) || (start < dynamicSharedHi && start + n > dynamicSharedLo);
    const bool device = !shared && start < deviceHi && start >= deviceLo;
    if (sized && (start & (n - 1)) && (shared || device))
        misaligned(p, n, write, pc, device);
    else if (shared)
        check_shared(p, n, write, pc);
    else if (device)
        check_device(p, n, write, pc);
}

// A return address as an offset in this module, which addr2line reads its source line from.
ROSE_EMU_UNCHECKED inline uint32_t module_offset(void* pc)
{
    static const uintptr_t base = [] {
        Dl_info info;
        return dladdr((void*)&module_offset, &info) ? (uintptr_t)info.dli_fbase : 0;
    }();
    return (uint32_t)((uintptr_t)pc - base);
}

// A finding by the running thread of the running block: what it did and where (the rest is the caller's).
ROSE_EMU_UNCHECKED_INLINE inline Race finding(const State& s, Kind kind, bool wrote, const char* array, uintptr_t byte, uint32_t pc,
                                              uint64_t allocationBytes = 0)
{
    Race r{};
    r.kind = kind;
    r.block = s.blockIdx;
    r.thread = s.current->idx;
    r.wrote = wrote;
    r.array = array;
    r.byte = byte;
    r.pc = pc;
    r.allocationBytes = allocationBytes;
    return r;
}

// One access `now` against a cell's records, which it then joins; the record it races with (and in
// *otherWrote whether that was a write), else null.
ROSE_EMU_UNCHECKED_INLINE inline const Access* check_cell(const Thread* threads, Shadow& sh, bool write, const Access& now, bool* otherWrote)
{
    *otherWrote = true;
    if (!ordered(threads, now.phase, sh.write, now.thread)) return &sh.write;
    *otherWrote = false;
    if (write)
    {
        if (!ordered(threads, now.phase, sh.read, now.thread)) return &sh.read;
        if (!ordered(threads, now.phase, sh.otherRead, now.thread)) return &sh.otherRead;
        sh.write = now;
        sh.read = sh.otherRead = Access{0, 0, 0, 0};
    }
    else if (same(sh.read, now) || same(sh.otherRead, now))
        ;   // this thread's read in this interval is on record already
    else if (sh.read.thread == 0 || sh.read.phase != now.phase || sh.read.thread == now.thread)
        sh.read = now;
    else
        sh.otherRead = now;
    return nullptr;
}

// Checks an access to [from, end) against a store of records and adds it to them: a word keeps one record
// while accesses cover it whole, and a narrower or misaligned one splits it into a record per byte (as
// they were), which a whole-word write joins again. The store gives `Shadow& word(start)` (the word at
// address `start`), `Shadow* bytes(start)` (its byte records, null while whole), `Shadow* split(start)`,
// `void join(start)`, `void report(byte, write, other, otherWrote, pc)`, and `bool unwritten(cell)` with
// `void noteUnwritten(byte, pc)` for a read of a cell nothing wrote (noted, and reported at the block's end
// unless a race is: a thread that reads before another writes in the same interval races with it, which is
// the better diagnosis). False when it races.
template <class Store>
ROSE_EMU_UNCHECKED_INLINE inline bool check_span(State& s, Store& store, uintptr_t from, uintptr_t end, bool write, const Access& now)
{
    bool otherWrote;
    for (uintptr_t at = from; at < end;)
    {
        const uintptr_t wordStart = at & ~(uintptr_t)3, wordEnd = wordStart + 4;
        const uintptr_t stop = end < wordEnd ? end : wordEnd;
        const bool whole = at == wordStart && stop == wordEnd;
        Shadow& w = store.word(wordStart);
        Shadow* bytes = store.bytes(wordStart);
        if (whole && !bytes)
        {
            if (!write && store.unwritten(w)) store.noteUnwritten(at, now.pc);
            if (const Access* other = check_cell(s.threadBase, w, write, now, &otherWrote))
                return store.report(at, write, *other, otherWrote, now.pc), false;
        }
        else
        {
            if (!bytes) bytes = store.split(wordStart);
            for (uintptr_t b = at; b < stop; b++)
            {
                if (!write && store.unwritten(bytes[b - wordStart])) store.noteUnwritten(b, now.pc);
                if (const Access* other = check_cell(s.threadBase, bytes[b - wordStart], write, now, &otherWrote))
                    return store.report(b, write, *other, otherWrote, now.pc), false;
            }
            if (whole && write)
            {
                w = bytes[0];
                store.join(wordStart);
            }
        }
        at = stop;
    }
    return true;
}

// A shared array's records (SharedRegion) as check_span's store.
struct SharedStore
{
    State& s;
    SharedRegion& r;

    ROSE_EMU_UNCHECKED_INLINE size_t index(uintptr_t start) const { return (start - r.base) / 4; }
    ROSE_EMU_UNCHECKED_INLINE Shadow& word(uintptr_t start) { return r.words[index(start)]; }
    ROSE_EMU_UNCHECKED_INLINE Shadow* bytes(uintptr_t start) { return r.split[index(start)] ? r.bytes + index(start) * 4 : nullptr; }
    ROSE_EMU_UNCHECKED_INLINE Shadow* split(uintptr_t start)
    {
        const size_t k = index(start);
        if (!r.bytes) r.bytes = (Shadow*)calloc(((r.hi - r.base + 3) / 4 + 1) * 4, sizeof(Shadow));
        for (int b = 0; b < 4; b++) r.bytes[k * 4 + b] = r.words[k];
        r.split[k] = 1;
        return r.bytes + k * 4;
    }
    ROSE_EMU_UNCHECKED_INLINE void join(uintptr_t start) { r.split[index(start)] = 0; }
    ROSE_EMU_UNCHECKED void report(uintptr_t byte, bool write, const Access& other, bool otherWrote, uint32_t pc)
    {
        s.race = finding(s, Kind::SharedRace, write, r.name, byte - r.lo, pc);
        s.race.other = s.threadBase[other.thread - 1].idx;
        s.race.otherWrote = otherWrote;
        s.race.otherPc = other.pc;
    }
    // Shared memory starts each block holding what the last one left: a cell no thread of this block has
    // written (its last write, if any, is from an interval before the block's first) holds garbage.
    ROSE_EMU_UNCHECKED_INLINE bool unwritten(const Shadow& cell) const
    {
        return cell.write.thread == 0 || (uint32_t)(cell.write.phase - (uint32_t)s.blockFirstPhase) > (uint32_t)(s.phase - s.blockFirstPhase);
    }
    ROSE_EMU_UNCHECKED void noteUnwritten(uintptr_t byte, uint32_t pc)
    {
        if (!s.unwrittenRead.found()) s.unwrittenRead = finding(s, Kind::UnwrittenShared, false, r.name, byte - r.lo, pc);
    }
};

// The block's device-memory records (State::deviceInBlock) as check_span's store, for the interval `phase`.
struct DeviceStore
{
    State& s;
    DeviceTable& t;
    uint64_t phase;
    DeviceWord* last = nullptr;   // the entry word() found, for bytes/split/join of the same word

    static size_t slot_of(uintptr_t start, size_t capacity) { return (size_t)(((start >> 2) * 0x9E3779B97F4A7C15ull) >> 17) & (capacity - 1); }

    ROSE_EMU_UNCHECKED void grow()
    {
        const size_t capacity = t.capacity ? t.capacity * 2 : 4096;
        auto* slots = (DeviceWord*)calloc(capacity, sizeof(DeviceWord));
        if (!slots) throw LaunchError("the race check cannot grow its records of device memory");
        for (size_t i = 0; i < t.capacity; i++)
        {
            if (t.slots[i].phase != phase) continue;
            size_t k = slot_of(t.slots[i].word, capacity);
            while (slots[k].phase == phase) k = (k + 1) & (capacity - 1);
            slots[k] = t.slots[i];
        }
        free(t.slots);
        t.slots = slots;
        t.capacity = capacity;
    }
    ROSE_EMU_UNCHECKED Shadow& word(uintptr_t start)
    {
        if (t.phase != phase)
        {
            t.phase = phase;
            t.live = t.byteCount = 0;
        }
        if ((t.live + 1) * 2 > t.capacity) grow();
        for (size_t k = slot_of(start, t.capacity);; k = (k + 1) & (t.capacity - 1))
        {
            DeviceWord& e = t.slots[k];
            if (e.phase != phase)
            {
                e = DeviceWord{phase, start, Shadow{}, 0};
                t.live++;
            }
            else if (e.word != start)
                continue;
            last = &e;
            return e.whole;
        }
    }
    ROSE_EMU_UNCHECKED_INLINE Shadow* bytes(uintptr_t) { return last->split ? t.bytes + (last->split - 1) * 4 : nullptr; }
    ROSE_EMU_UNCHECKED Shadow* split(uintptr_t)
    {
        if (t.byteCount + 4 > t.byteCapacity)
        {
            const size_t capacity = t.byteCapacity ? t.byteCapacity * 2 : 1024;
            auto* bytes = (Shadow*)realloc(t.bytes, capacity * sizeof(Shadow));
            if (!bytes) throw LaunchError("the race check cannot grow its records of device memory");
            t.bytes = bytes;
            t.byteCapacity = capacity;
        }
        Shadow* four = t.bytes + t.byteCount;
        for (int b = 0; b < 4; b++) four[b] = last->whole;
        last->split = (uint32_t)(t.byteCount / 4 + 1);
        t.byteCount += 4;
        return four;
    }
    ROSE_EMU_UNCHECKED_INLINE void join(uintptr_t) { last->split = 0; }
    // Whether device memory was written is the driver's to say (its bitmap spans blocks and launches).
    ROSE_EMU_UNCHECKED_INLINE bool unwritten(const Shadow&) const { return false; }
    ROSE_EMU_UNCHECKED void noteUnwritten(uintptr_t, uint32_t) {}
    ROSE_EMU_UNCHECKED void report(uintptr_t byte, bool write, const Access& other, bool otherWrote, uint32_t pc)
    {
        uint64_t offset = byte, allocationBytes = 0;
        if (deviceWhere) deviceWhere(byte, &offset, &allocationBytes);
        s.race = finding(s, Kind::DeviceRaceInBlock, write, "device memory", offset, pc, allocationBytes);
        s.race.other = s.threadBase[other.thread - 1].idx;
        s.race.otherWrote = otherWrote;
        s.race.otherPc = other.pc;
    }
};

// Device memory: the driver keeps the records between blocks (blocks run on several workers, each with
// its own copy of this module) and this module those between the threads of the running block.
ROSE_EMU_UNCHECKED inline void check_device(const void* p, size_t n, bool write, void* pc)
{
    if (!constructed || !deviceAccess) return;
    State& s = *constructed;
    if (s.checking || !s.current || s.race.found()) return;
    s.checking = true;
    const uint32_t block = s.blockIdx.x + s.grid.x * (s.blockIdx.y + s.grid.y * s.blockIdx.z);
    const uint32_t offset = module_offset(pc);
    uint32_t otherBlock = 0, otherPc = 0;
    int otherWrote = 0;
    uint64_t byte = 0, allocationBytes = 0;
    const int verdict = deviceAccess((uintptr_t)p, n, write, block, offset, &otherBlock, &otherPc, &otherWrote, &byte, &allocationBytes);
    if (verdict == 3)
        s.race = finding(s, Kind::UnwrittenDevice, write, "device memory", byte, offset, allocationBytes);
    else if (verdict == 2)
    {
        s.race = finding(s, Kind::OutOfBounds, write, "device memory", byte, offset, allocationBytes);
        s.race.before = otherWrote != 0;
    }
    else if (verdict)
    {
        s.race = finding(s, Kind::DeviceRaceBetweenBlocks, write, "device memory", byte, offset, allocationBytes);
        s.race.other = {otherBlock % s.grid.x, otherBlock / s.grid.x % s.grid.y, otherBlock / (s.grid.x * s.grid.y)};
        s.race.otherWrote = otherWrote != 0;
        s.race.otherPc = otherPc;
    }
    else
    {
        const Access now{(uint32_t)s.current->linear + 1, s.current->syncs, (uint32_t)s.phase, offset};
        DeviceStore store{s, s.deviceInBlock, s.phase};
        const uintptr_t start = (uintptr_t)p, end = start + n < deviceHi ? start + n : deviceHi;
        check_span(s, store, start, end, write, now);
    }
    s.checking = false;
}

// A GPU stops a kernel at an access of n bytes whose address is not a multiple of n (misaligned address):
// the launch fails, naming the array or allocation, the byte and the source line.
ROSE_EMU_UNCHECKED inline void misaligned(const void* p, size_t n, bool write, void* pc, bool device)
{
    if (!constructed) return;
    State& s = *constructed;
    if (s.checking || !s.current || s.race.found()) return;
    s.checking = true;
    const uintptr_t a = (uintptr_t)p;
    const char* array = "device memory";
    uint64_t offset = a, allocationBytes = 0;
    if (device && deviceWhere)
        deviceWhere(a, &offset, &allocationBytes);
    for (int k = 0; !device && k < s.regionCount; k++)
        if (a >= s.regions[k].lo && a < s.regions[k].hi)
        {
            array = s.regions[k].name;
            offset = a - s.regions[k].lo;
        }
    s.race = finding(s, Kind::Misaligned, write, array, offset, module_offset(pc), allocationBytes);
    s.race.size = (unsigned)n;
    s.checking = false;
}

ROSE_EMU_UNCHECKED inline void check_shared(const void* p, size_t n, bool write, void* pc)
{
    if (!constructed) return;
    State& s = *constructed;
    if (s.checking || !s.current || s.race.found()) return;
    s.checking = true;
    const uintptr_t a = (uintptr_t)p;
    const Access now{(uint32_t)s.current->linear + 1, s.current->syncs, (uint32_t)s.phase, module_offset(pc)};
    for (int k = 0; k < s.regionCount; k++)
    {
        SharedRegion& r = s.regions[k];
        if (a >= r.hi || a + n <= r.lo) continue;
        SharedStore store{s, r};
        if (!check_span(s, store, a > r.lo ? a : r.lo, a + n < r.hi ? a + n : r.hi, write, now)) break;
    }
    s.checking = false;
}

ROSE_EMU_UNCHECKED inline void add_region(void* p, size_t bytes, const char* name)
{
    State& s = state();
    if (s.regionCount == (int)(sizeof s.regions / sizeof *s.regions)) return;
    s.regions[s.regionCount++] = make_region((uintptr_t)p, (uintptr_t)p + bytes, name);
    if ((uintptr_t)p < staticSharedLo) staticSharedLo = (uintptr_t)p;
    if ((uintptr_t)p + bytes > staticSharedHi) staticSharedHi = (uintptr_t)p + bytes;
}

// "file:line" of a return address in this module (its offset), from the module's line table (built
// with -g1) by addr2line: the innermost frame outside this prelude.
inline std::string source_line(uint32_t pc)
{
    if (pc == 0) return "?";
    char command[1024];
    snprintf(command, sizeof command, "addr2line -i -e '%s' 0x%lx 2>/dev/null", ROSE_EMU_IMAGE, (unsigned long)(pc - 1));
    std::string found = "?";
    if (FILE* pipe = popen(command, "r"))
    {
        char line[1024];
        while (fgets(line, sizeof line, pipe))
        {
            std::string text(line);
            while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
            if (found == "?" && text.find("rose_emu_prelude.h") == std::string::npos && text.rfind("??", 0) != 0)
            {
                const size_t slash = text.rfind('/');
                found = slash == std::string::npos ? text : text.substr(slash + 1);
                const size_t note = found.find(" (");
                if (note != std::string::npos) found.resize(note);
            }
        }
        pclose(pipe);
    }
    return found;
}

// The race as the launch's error: both threads, the array and byte, and both source lines.
inline std::string describe_race(const Race& r)
{
    auto xyz = [](uint3 i) { return "(" + std::to_string(i.x) + "," + std::to_string(i.y) + "," + std::to_string(i.z) + ")"; };
    const std::string does = r.wrote ? " writes" : " reads", did = r.otherWrote ? " wrote" : " read";
    const std::string allocation = " of a " + std::to_string(r.allocationBytes) + "-byte allocation";
    const std::string where = r.kind == Kind::SharedRace || r.kind == Kind::UnwrittenShared || (r.kind == Kind::Misaligned && r.allocationBytes == 0)
                                  ? std::string(" of `") + r.array + "`" : allocation;
    const std::string unordered = " with no __syncthreads (or __syncwarp of both lanes) between";
    switch (r.kind)
    {
    case Kind::UnwrittenShared:
        return "read of unwritten shared memory in block " + xyz(r.block) + ": thread " + xyz(r.thread) + " reads byte " + std::to_string(r.byte) +
               where + " at " + source_line(r.pc) + ", which no thread of the block has written (a block's shared memory holds what the last block left)";
    case Kind::UnwrittenDevice:
        return "read of unwritten device memory in block " + xyz(r.block) + ": thread " + xyz(r.thread) + " reads byte " + std::to_string(r.byte) +
               where + " at " + source_line(r.pc) + ", which no kernel, copy, memset or library call has written since it was allocated";
    case Kind::Misaligned:
        return "misaligned " + std::to_string(r.size) + "-byte " + (r.wrote ? "write" : "read") + " in block " + xyz(r.block) + ": thread " +
               xyz(r.thread) + does + " byte " + std::to_string(r.byte) + where + " at " + source_line(r.pc) + ", not a multiple of " +
               std::to_string(r.size) + " (a GPU stops the kernel: misaligned address)";
    case Kind::OutOfBounds:
        return "device-memory access out of bounds in block " + xyz(r.block) + ": thread " + xyz(r.thread) + does +
               (r.before ? " " + std::to_string(r.byte) + " bytes before the start" + allocation
                         : " byte " + std::to_string(r.byte) + allocation) +
               " at " + source_line(r.pc) + " (outside it, where a GPU may have put another allocation)";
    case Kind::DeviceRaceInBlock:
        return "device-memory race in block " + xyz(r.block) + ": thread " + xyz(r.thread) + does + " byte " + std::to_string(r.byte) + where +
               " at " + source_line(r.pc) + " that thread " + xyz(r.other) + did + " at " + source_line(r.otherPc) + unordered;
    case Kind::DeviceRaceBetweenBlocks:
        return "device-memory race between blocks " + xyz(r.block) + " and " + xyz(r.other) + ": thread " + xyz(r.thread) + " of block " +
               xyz(r.block) + does + " byte " + std::to_string(r.byte) + where + " at " + source_line(r.pc) + " that block " + xyz(r.other) +
               did + " at " + source_line(r.otherPc) + " in the same launch (nothing orders two blocks of a launch; only atomics may share a location)";
    default:
        return "shared-memory race in block " + xyz(r.block) + ": thread " + xyz(r.thread) + does + " byte " + std::to_string(r.byte) + where +
               " at " + source_line(r.pc) + " that thread " + xyz(r.other) + did + " at " + source_line(r.otherPc) + unordered;
    }
}
} // namespace rose_emu

#define ROSE_EMU_HOOK extern "C" __attribute__((visibility("hidden"), no_sanitize_thread))
#define ROSE_EMU_ACCESS(kind, size, write)                                                                   \
    ROSE_EMU_HOOK void __tsan_##kind##size(void* p) { ::rose_emu::check(p, size, write, __builtin_return_address(0), true); } \
    ROSE_EMU_HOOK void __tsan_unaligned_##kind##size(void* p) { ::rose_emu::check(p, size, write, __builtin_return_address(0), true); } \
    ROSE_EMU_HOOK void __tsan_volatile_##kind##size(void* p) { ::rose_emu::check(p, size, write, __builtin_return_address(0), true); }
ROSE_EMU_ACCESS(read, 1, false) ROSE_EMU_ACCESS(read, 2, false) ROSE_EMU_ACCESS(read, 4, false)
ROSE_EMU_ACCESS(read, 8, false) ROSE_EMU_ACCESS(read, 16, false)
ROSE_EMU_ACCESS(write, 1, true) ROSE_EMU_ACCESS(write, 2, true) ROSE_EMU_ACCESS(write, 4, true)
ROSE_EMU_ACCESS(write, 8, true) ROSE_EMU_ACCESS(write, 16, true)
ROSE_EMU_HOOK void __tsan_read_range(void* p, unsigned long n) { ::rose_emu::check(p, n, false, __builtin_return_address(0), false); }
ROSE_EMU_HOOK void __tsan_write_range(void* p, unsigned long n) { ::rose_emu::check(p, n, true, __builtin_return_address(0), false); }
ROSE_EMU_HOOK void __tsan_init() {}
ROSE_EMU_HOOK void __tsan_func_entry(void*) {}
ROSE_EMU_HOOK void __tsan_func_exit() {}
ROSE_EMU_HOOK void __tsan_vptr_update(void**, void*) {}
ROSE_EMU_HOOK void __tsan_vptr_read(void**) {}
ROSE_EMU_HOOK void __tsan_atomic_thread_fence(int) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
ROSE_EMU_HOOK void __tsan_atomic_signal_fence(int) {}
// Atomics are the real operations (blocks on several workers share global memory), sequentially consistent.
#define ROSE_EMU_ATOMICS(bits)                                                                                        \
    typedef uint##bits##_t rose_emu_a##bits;                                                                          \
    ROSE_EMU_HOOK rose_emu_a##bits __tsan_atomic##bits##_load(const volatile rose_emu_a##bits* a, int)                \
    { return __atomic_load_n(a, __ATOMIC_SEQ_CST); }                                                                  \
    ROSE_EMU_HOOK void __tsan_atomic##bits##_store(volatile rose_emu_a##bits* a, rose_emu_a##bits v, int)             \
    { __atomic_store_n(a, v, __ATOMIC_SEQ_CST); }                                                                     \
    ROSE_EMU_HOOK rose_emu_a##bits __tsan_atomic##bits##_exchange(volatile rose_emu_a##bits* a, rose_emu_a##bits v, int) \
    { return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST); }                                                           \
    ROSE_EMU_HOOK rose_emu_a##bits __tsan_atomic##bits##_fetch_add(volatile rose_emu_a##bits* a, rose_emu_a##bits v, int) \
    { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); }                                                            \
    ROSE_EMU_HOOK rose_emu_a##bits __tsan_atomic##bits##_fetch_sub(volatile rose_emu_a##bits* a, rose_emu_a##bits v, int) \
    { return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST); }                                                            \
    ROSE_EMU_HOOK rose_emu_a##bits __tsan_atomic##bits##_fetch_and(volatile rose_emu_a##bits* a, rose_emu_a##bits v, int) \
    { return __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST); }                                                            \
    ROSE_EMU_HOOK rose_emu_a##bits __tsan_atomic##bits##_fetch_or(volatile rose_emu_a##bits* a, rose_emu_a##bits v, int) \
    { return __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST); }                                                             \
    ROSE_EMU_HOOK rose_emu_a##bits __tsan_atomic##bits##_fetch_xor(volatile rose_emu_a##bits* a, rose_emu_a##bits v, int) \
    { return __atomic_fetch_xor(a, v, __ATOMIC_SEQ_CST); }                                                            \
    ROSE_EMU_HOOK rose_emu_a##bits __tsan_atomic##bits##_fetch_nand(volatile rose_emu_a##bits* a, rose_emu_a##bits v, int) \
    { return __atomic_fetch_nand(a, v, __ATOMIC_SEQ_CST); }                                                           \
    ROSE_EMU_HOOK int __tsan_atomic##bits##_compare_exchange_strong(volatile rose_emu_a##bits* a, rose_emu_a##bits* c, \
        rose_emu_a##bits v, int, int)                                                                                 \
    { return __atomic_compare_exchange_n(a, c, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); }                       \
    ROSE_EMU_HOOK int __tsan_atomic##bits##_compare_exchange_weak(volatile rose_emu_a##bits* a, rose_emu_a##bits* c,   \
        rose_emu_a##bits v, int, int)                                                                                 \
    { return __atomic_compare_exchange_n(a, c, v, true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); }                        \
    ROSE_EMU_HOOK rose_emu_a##bits __tsan_atomic##bits##_compare_exchange_val(volatile rose_emu_a##bits* a,           \
        rose_emu_a##bits c, rose_emu_a##bits v, int, int)                                                             \
    { __atomic_compare_exchange_n(a, &c, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); return c; }
ROSE_EMU_ATOMICS(8) ROSE_EMU_ATOMICS(16) ROSE_EMU_ATOMICS(32) ROSE_EMU_ATOMICS(64)
#endif

namespace rose_emu
{
// The order a launch's blocks run in: the i-th is i·stride + (total − 1) mod total, with a stride near
// total·5/8 and coprime to total, so every block runs once, the last-numbered first, and
// neighbours run far apart.
struct BlockOrder
{
    uint64_t total, stride;

    explicit BlockOrder(uint64_t count) : total(count), stride(count * 5 / 8 + 1)
    {
        auto gcd = [](uint64_t a, uint64_t b) { while (b) { uint64_t t = a % b; a = b; b = t; } return a; };
        while (gcd(stride, total) != 1) stride++;
    }

    uint64_t operator[](uint64_t i) const
    {
        return (uint64_t)(((unsigned __int128)i * stride + total - 1) % total);
    }
};
} // namespace rose_emu

// Runs a worker's share of one launch: the blocks at positions first, first + stride, ... of
// BlockOrder, each as described at the top. Returns 0, or 1 with the reason in `error`.
// [deviceLo, deviceHi) is the driver's device-memory arena, `check` the race check's hook for it between
// blocks and `where` the one that names an address's allocation (called by kernels built with the check).
extern "C" __attribute__((visibility("default"))) ROSE_EMU_QUIET int rose_emu_launch(void (*entry)(void**), const unsigned* grid,
    const unsigned* block, unsigned sharedBytes, void** params, unsigned first, unsigned stride, uintptr_t deviceLo, uintptr_t deviceHi,
    ::rose_emu::DeviceAccessFn check, ::rose_emu::DeviceWhereFn where, char* error, int errorLength)
{
    using namespace ::rose_emu;
    State& s = state();
#if defined(ROSE_EMU_RACECHECK)
    ::rose_emu::deviceLo = deviceLo;
    ::rose_emu::deviceHi = deviceHi;
    ::rose_emu::deviceAccess = check;
    ::rose_emu::deviceWhere = where;
#else
    (void)deviceLo;
    (void)deviceHi;
    (void)check;
    (void)where;
#endif
    s.grid = {grid[0], grid[1], grid[2]};
    s.block = {block[0], block[1], block[2]};
    s.entry = entry;
    s.params = params;
    const int count = (int)(block[0] * block[1] * block[2]);
    // Dynamic shared memory ends (its size rounded up to 16 bytes, its alignment) at an inaccessible
    // page, so a kernel that indexes past what its launch asked for stops at the faulting access, as a
    // GPU reports an out-of-range shared address, instead of reading its neighbours' statics.
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t sharedRounded = ((size_t)sharedBytes + 15) / 16 * 16;
    const size_t sharedMapped = (sharedRounded + page - 1) / page * page + page;
    auto* sharedMapping = (unsigned char*)mmap(nullptr, sharedMapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (sharedMapping == MAP_FAILED) { snprintf(error, errorLength, "cannot map dynamic shared memory"); return 1; }
    struct Unmap
    {
        void* p;
        size_t n;
        ~Unmap() { munmap(p, n); }
    } unmapShared{sharedMapping, sharedMapped};
    mprotect(sharedMapping + sharedMapped - page, page, PROT_NONE);
    s.dynamicShared = sharedMapping + sharedMapped - page - sharedRounded;
    // Shared memory starts as garbage on a GPU: NaN bytes make a kernel that reads before writing fail.
    memset(s.dynamicShared, 0xff, sharedRounded);
    s.stackBytes = 256 * 1024;
    const size_t need = (size_t)count * s.stackBytes;
    if (s.stacksMapped < need)
    {
        if (s.stacks) munmap(s.stacks, s.stacksMapped);
        s.stacks = (char*)mmap(nullptr, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (s.stacks == MAP_FAILED) { s.stacks = nullptr; s.stacksMapped = 0; snprintf(error, errorLength, "cannot map fiber stacks"); return 1; }
        s.stacksMapped = need;
    }
    s.threads.assign(count, Thread{});
    s.threadBase = s.threads.data();
#if defined(ROSE_EMU_RACECHECK)
    s.race = Race{};
    s.regions[0] = make_region((uintptr_t)s.dynamicShared, (uintptr_t)s.dynamicShared + sharedBytes, "dynamic shared memory");
    dynamicSharedLo = s.regions[0].lo;
    dynamicSharedHi = s.regions[0].hi;
    struct FreeShadow
    {
        SharedRegion& r;
        ~FreeShadow()
        {
            release_region(r);
            dynamicSharedLo = dynamicSharedHi = 0;
        }
    } freeShadow{s.regions[0]};
#endif
    for (int i = 0; i < count; i++)
    {
        Thread& t = s.threads[i];
        t.idx = {(unsigned)(i % block[0]), (unsigned)(i / block[0] % block[1]), (unsigned)(i / (block[0] * block[1]))};
        t.linear = i;
        t.lane = i % 32;
    }
    try
    {
        const BlockOrder order((uint64_t)grid[0] * grid[1] * grid[2]);
        for (uint64_t i = first; i < order.total; i += stride)
        {
            const uint64_t b = order[i];
            s.blockIdx = {(unsigned)(b % grid[0]), (unsigned)(b / grid[0] % grid[1]), (unsigned)(b / ((uint64_t)grid[0] * grid[1]))};
#if defined(ROSE_EMU_RACECHECK)
            s.unwrittenRead = Race{};
#endif
            run_block(s);
#if defined(ROSE_EMU_RACECHECK)
            if (!s.race.found() && s.unwrittenRead.found()) s.race = s.unwrittenRead;
            if (s.race.found())
            {
                snprintf(error, errorLength, "%s", describe_race(s.race).c_str());
                s.current = nullptr;
                return 1;
            }
#endif
        }
    }
    catch (const std::exception& e)
    {
        snprintf(error, errorLength, "%s", e.what());
        s.current = nullptr;
        return 1;
    }
    s.current = nullptr;
    return 0;
}

ROSE_EMU_QUIET inline void* rose_emu_dynamic_shared() { return ::rose_emu::state().dynamicShared; }

// Every `__shared__` declaration is followed by a call to this (fake_nvrtc.cpp adds it): the first
// thread of a block to pass the declaration fills the array with 0xff bytes, since shared memory on a
// GPU holds whatever the previous block left, never zeros.
ROSE_EMU_QUIET inline void rose_emu_poison_shared(void* p, size_t bytes, const char* name)
{
    ::rose_emu::State& s = ::rose_emu::state();
    uint64_t& last = s.sharedPoisoned[p];
    if (last == s.blockSerial) return;
#if defined(ROSE_EMU_RACECHECK)
    if (last == 0) ::rose_emu::add_region(p, bytes, name);
#else
    (void)name;
#endif
    last = s.blockSerial;
    memset(p, 0xff, bytes);
}

namespace rose_emu
{
// The built-in variables, by value.
ROSE_EMU_QUIET inline uint3 thread_idx() { return state().current->idx; }
ROSE_EMU_QUIET inline uint3 block_idx() { return state().blockIdx; }
ROSE_EMU_QUIET inline dim3 block_dim() { return state().block; }
ROSE_EMU_QUIET inline dim3 grid_dim() { return state().grid; }
} // namespace rose_emu

// The CUDA keywords and built-in variables, last so that nothing above is rewritten by them.
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#if defined(ROSE_EMU_RACECHECK)
// A section of their own keeps the span the race check's first filter tests free of other statics.
#define __shared__ static __attribute__((section(".rose_shared")))
#else
#define __shared__ static
#endif
#define __align__(n) __attribute__((aligned(n)))
#define __restrict__ __restrict
#define threadIdx (::rose_emu::thread_idx())
#define blockIdx (::rose_emu::block_idx())
#define blockDim (::rose_emu::block_dim())
#define gridDim (::rose_emu::grid_dim())
#define warpSize 32

// One per kernel (fake_nvrtc.cpp appends them): its entry point, its parameters' sizes, and the most threads
// a block may have (its __launch_bounds__, 0 when it declares none).
#define ROSE_EMU_ENTRY(name, max_threads) \
    extern "C" __attribute__((visibility("default"))) void rose_emu_entry_##name(void** a) { ::rose_emu::call(name, a); } \
    extern "C" __attribute__((visibility("default"))) int rose_emu_argument_sizes_##name(unsigned* sizes, int capacity) \
    { return ::rose_emu::argument_sizes(name, sizes, capacity); } \
    extern "C" __attribute__((visibility("default"))) unsigned rose_emu_max_threads_##name() { return max_threads; }
