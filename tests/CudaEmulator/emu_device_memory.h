// Device memory of the CPU emulator's driver (fake_cuda.cpp): one reserved arena that every device
// allocation comes from, and the race check's records for it, which also mark the bytes outside every
// allocation (the bounds check).
// Why one arena: a kernel's race-check hook (emu_kernel_prelude.h) runs on every load and store and must
// tell device memory from everything else (fiber stacks, host memory, shared memory). With all device
// memory in one range of address space that takes two comparisons, and an address's records are found
// by arithmetic. Each allocation maps fresh pages inside the arena; a freed one goes back to reserved,
// inaccessible space, so a stale pointer faults as before.
// The check between blocks: nothing orders two blocks of one launch, so their accesses to one byte of
// device memory, at least one of them a plain (not atomic) write, race whichever ran first. Each 4-byte
// word keeps the launch, block and code offset of its last write and of two reads by different blocks
// (one record while accesses cover the word whole; a narrower one splits it into a record per byte, as
// the shared-memory check does). Stamping each record with its launch makes every earlier launch's
// records count as absent, so nothing is cleared between launches. Blocks run on several workers at once,
// so each word is updated under one of a set of spin locks.
#pragma once

#include <sys/mman.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <map>

// Hidden: the driver's own, which lets the compiler inline the check's pieces instead of calling each
// through the PLT.
#pragma GCC visibility push(hidden)
namespace rose_emu_device
{
// 8 bytes, since device memory has six times its size of them: the launch (its low 16 bits; 0 for none,
// and the driver forgets every record when the count wraps), the block's linear index (its low 24 bits:
// blocks 2^24 apart look alike, which can hide a race but never invent one) and the code offset.
struct BlockAccess
{
    uint64_t launch : 16, block : 24, pc : 24;
};

struct Cell
{
    BlockAccess write, read, otherRead;   // otherRead: a reader of another block than `read`'s
};

// What no access leaves: the write record of the bytes of the arena's mappings that lie outside every
// allocation (before its start, or past its end up to the driver's 256-byte granularity), so an access
// there is reported instead of landing in memory a GPU may have given another allocation. Launch 0 reads
// as "no access" to the race rule, so only Check, which every access to such a cell reaches, looks for it.
constexpr BlockAccess kOutside{0, 0xffffff, 0xffffff};
inline bool IsOutside(const BlockAccess& a) { return a.launch == 0 && a.block == 0xffffff && a.pc == 0xffffff; }

// The earlier access a new one races with, or (`outside`) the byte outside every allocation it touched, or
// (`unwritten`) the byte it read that nothing has written since its allocation.
struct Conflict
{
    uintptr_t address;
    BlockAccess other;
    bool otherWrote;
    bool outside;
    bool unwritten;
};

class Arena
{
public:
    // Reserves `bytes` of inaccessible address space and the records for it; false when the system refuses.
    bool Reserve(size_t bytes)
    {
        page_ = (size_t)sysconf(_SC_PAGESIZE);
        bytes = (bytes + page_ - 1) / page_ * page_;
        const int reserve = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
        void* space = mmap(nullptr, bytes, PROT_NONE, reserve, -1, 0);
        void* words = mmap(nullptr, bytes / 4 * sizeof(Cell), PROT_READ | PROT_WRITE, reserve, -1, 0);
        void* cells = mmap(nullptr, bytes * sizeof(Cell), PROT_READ | PROT_WRITE, reserve, -1, 0);
        void* split = mmap(nullptr, bytes / 4, PROT_READ | PROT_WRITE, reserve, -1, 0);
        void* written = mmap(nullptr, bytes / 8, PROT_READ | PROT_WRITE, reserve, -1, 0);
        if (space == MAP_FAILED || words == MAP_FAILED || cells == MAP_FAILED || split == MAP_FAILED || written == MAP_FAILED)
        {
            if (space != MAP_FAILED) munmap(space, bytes);
            if (words != MAP_FAILED) munmap(words, bytes / 4 * sizeof(Cell));
            if (cells != MAP_FAILED) munmap(cells, bytes * sizeof(Cell));
            if (split != MAP_FAILED) munmap(split, bytes / 4);
            if (written != MAP_FAILED) munmap(written, bytes / 8);
            return false;
        }
        lo_ = (uintptr_t)space;
        hi_ = lo_ + bytes;
        words_ = (Cell*)words;
        bytes_ = (Cell*)cells;
        split_ = (unsigned char*)split;
        written_ = (unsigned char*)written;
        free_[lo_] = bytes;
        return true;
    }

    bool Reserved() const { return lo_ != 0; }
    uintptr_t Lo() const { return lo_; }
    uintptr_t Hi() const { return hi_; }

    // `mapped` bytes (a multiple of the page) of fresh zeroed read-write pages, the first free range that
    // holds them; null when none does. The caller serializes Take and Give.
    char* Take(size_t mapped)
    {
        for (auto it = free_.begin(); it != free_.end(); ++it)
        {
            if (it->second < mapped) continue;
            const uintptr_t start = it->first;
            const size_t left = it->second - mapped;
            free_.erase(it);
            if (left) free_[start + mapped] = left;
            void* p = mmap((void*)start, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            if (p == MAP_FAILED)
            {
                Give((char*)start, mapped);
                return nullptr;
            }
            return (char*)p;
        }
        return nullptr;
    }

    // The initialization check: a bit per byte of the arena, set when a kernel, a copy, a memset or a library
    // call writes the byte and cleared when its allocation is freed, so a kernel that reads a byte nothing has
    // written since its allocation is told so (the 0xff fill shows such a read only where its NaN survives:
    // fmaxf and comparisons drop it). Kernels' writes come from several workers, so bits are set atomically.
    void MarkWritten(uintptr_t p, size_t n)
    {
        const uintptr_t end = p + n < hi_ ? p + n : hi_;
        for (uintptr_t at = p; at < end;)
        {
            const size_t bit = at - lo_;
            if (bit % 8 == 0 && at + 8 <= end)
            {
                if (written_[bit / 8] != 0xff) __atomic_store_n(&written_[bit / 8], (unsigned char)0xff, __ATOMIC_RELAXED);
                at += 8;
                continue;
            }
            __atomic_fetch_or(&written_[bit / 8], (unsigned char)(1u << (bit % 8)), __ATOMIC_RELAXED);
            at++;
        }
    }

    // The first byte of [p, p + n) that nothing has written, or 0 when every byte has been.
    uintptr_t FirstUnwritten(uintptr_t p, size_t n) const
    {
        const uintptr_t end = p + n < hi_ ? p + n : hi_;
        for (uintptr_t at = p; at < end; at++)
        {
            const size_t bit = at - lo_;
            if (bit % 8 == 0 && at + 8 <= end && __atomic_load_n(&written_[bit / 8], __ATOMIC_RELAXED) == 0xff)
            {
                at += 7;
                continue;
            }
            if (!(__atomic_load_n(&written_[bit / 8], __ATOMIC_RELAXED) >> (bit % 8) & 1u)) return at;
        }
        return 0;
    }

    // A device-to-device copy of n bytes carries its source's bits: a copy of bytes nothing wrote is no write.
    void CopyWritten(uintptr_t to, uintptr_t from, size_t n)
    {
        for (size_t i = 0; i < n; i++)
        {
            const size_t f = from + i - lo_, t = to + i - lo_;
            const unsigned char mask = (unsigned char)(1u << (t % 8));
            if (written_[f / 8] >> (f % 8) & 1u) written_[t / 8] |= mask;
            else written_[t / 8] &= (unsigned char)~mask;
        }
    }

    bool Holds(uintptr_t p, size_t n) const { return p >= lo_ && p + n <= hi_ && p + n >= p; }

    // [start, start + mapped) back to reserved space, its pages dropped, and a large range's records too.
    // Frees come between launches (the driver runs queued work first), so every record is stale already;
    // a small range's are left for the next allocation there, which saves a system call per free.
    void Give(char* start, size_t mapped)
    {
        mmap(start, mapped, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
        const uintptr_t from = (uintptr_t)start - lo_;
        // Mappings start and end on pages, so their bits are whole bytes of the bitmap; the bitmap pages they
        // share with neighbours keep the neighbours' bits.
        Zero(written_ + from / 8, mapped / 8);
        if (mapped >= (1u << 16))
        {
            Drop(words_ + from / 4, mapped / 4 * sizeof(Cell));
            Drop(bytes_ + from, mapped * sizeof(Cell));
            Drop(split_ + from / 4, mapped / 4);
        }
        uintptr_t lo = (uintptr_t)start;
        size_t length = mapped;
        auto next = free_.lower_bound(lo);
        if (next != free_.end() && next->first == lo + length)
        {
            length += next->second;
            next = free_.erase(next);
        }
        if (next != free_.begin())
        {
            auto before = std::prev(next);
            if (before->first + before->second == lo)
            {
                before->second += length;
                return;
            }
        }
        free_[lo] = length;
    }

    // Marks [from, to) (inside the arena) as outside every allocation, or (`outside` false) clears the mark.
    // The driver marks an allocation's slack when it maps it, clears it when it frees it, and marks every live
    // allocation's again after Forget. The slack's pages are the allocation's own, so no launch touches its
    // records meanwhile (an access there fails its launch either way).
    void MarkOutside(uintptr_t from, uintptr_t to, bool outside)
    {
        const Cell mark{outside ? kOutside : BlockAccess{}, BlockAccess{}, BlockAccess{}};
        for (uintptr_t at = from; at < to;)
        {
            const size_t word = (at - lo_) / 4;
            const uintptr_t wordEnd = lo_ + word * 4 + 4;
            if (at == wordEnd - 4 && to >= wordEnd && !split_[word])
            {
                words_[word] = mark;
                at = wordEnd;
                continue;
            }
            Split(word);
            for (; at < to && at < wordEnd; at++) bytes_[at - lo_] = mark;
        }
    }

    // Every record dropped, as when the launch count wraps: the driver calls it between launches.
    void Forget()
    {
        const size_t bytes = hi_ - lo_;
        madvise(words_, bytes / 4 * sizeof(Cell), MADV_DONTNEED);
        madvise(bytes_, bytes * sizeof(Cell), MADV_DONTNEED);
        madvise(split_, bytes / 4, MADV_DONTNEED);
    }

    // Checks block `block`'s access to [p, p + n) (inside the arena) in launch `launch` (1 to 65535)
    // against the records and adds it to them; false, with the earlier access, when the two race.
    // `locked`: other workers may run blocks of the launch at the same time.
    bool Access(uintptr_t p, size_t n, bool write, uint32_t launch, uint32_t block, uint32_t pc, bool locked, Conflict* conflict)
    {
        const BlockAccess now{launch & 0xffffu, block & 0xffffffu, pc & 0xffffffu};
        const uintptr_t end = p + n < hi_ ? p + n : hi_;
        if (!write)
            if (const uintptr_t unwritten = FirstUnwritten(p, end - p); unwritten && !Outside(unwritten))
            {
                *conflict = Conflict{unwritten, BlockAccess{}, false, false, true};
                return false;
            }
        for (uintptr_t at = p; at < end;)
        {
            const size_t word = (at - lo_) / 4;
            const uintptr_t wordEnd = lo_ + word * 4 + 4;
            const uintptr_t stop = end < wordEnd ? end : wordEnd;
            const bool whole = at == wordEnd - 4 && stop == wordEnd;
            if (whole && !__atomic_load_n(&split_[word], __ATOMIC_RELAXED) && Settled(words_[word], now, write))
            {
                at = stop;
                continue;
            }
            std::atomic_flag& lock = locks_[word / 16 % kLocks].flag;
            while (locked && lock.test_and_set(std::memory_order_acquire)) {}
            bool clean = true;
            if (whole && !split_[word])
                clean = Check(words_[word], now, write, at, conflict);
            else
            {
                Split(word);
                for (uintptr_t b = at; b < stop && clean; b++) clean = Check(bytes_[b - lo_], now, write, b, conflict);
                if (clean && whole && write)
                {
                    Store(words_[word].write, bytes_[word * 4].write);
                    Store(words_[word].read, BlockAccess{});
                    Store(words_[word].otherRead, BlockAccess{});
                    __atomic_store_n(&split_[word], 0, __ATOMIC_RELAXED);
                }
            }
            if (locked) lock.clear(std::memory_order_release);
            if (!clean) return false;
            at = stop;
        }
        if (write) MarkWritten(p, end - p);
        return true;
    }

private:
    // A cache line each, so that two workers' locks of different words do not share one.
    struct alignas(64) Lock
    {
        std::atomic_flag flag = ATOMIC_FLAG_INIT;
    };
    static constexpr size_t kLocks = 1024;

    // A word's records are read without its lock (Settled) while another worker may update them under it:
    // each record is loaded and stored whole.
    static BlockAccess Load(const BlockAccess& a)
    {
        BlockAccess value;
        __atomic_load(&a, &value, __ATOMIC_RELAXED);
        return value;
    }
    static void Store(BlockAccess& a, BlockAccess value) { __atomic_store(&a, &value, __ATOMIC_RELAXED); }

    // Whether an access would change nothing and race with nothing, judged without the lock: a read when
    // the word holds this block's read already, or reads of two other blocks (any later write races with one
    // of them), and no other block's write; a write when it holds this block's write and no other block's
    // read. What it relies on is on record, so another worker's racing access, checked under the lock,
    // finds it.
    static bool Settled(const Cell& c, const BlockAccess& now, bool write)
    {
        const BlockAccess w = Load(c.write), r = Load(c.read), o = Load(c.otherRead);
        auto current = [&](const BlockAccess& a) { return a.launch == now.launch; };
        auto mine = [&](const BlockAccess& a) { return current(a) && a.block == now.block; };
        auto others = [&](const BlockAccess& a) { return current(a) && a.block != now.block; };
        if (write) return mine(w) && !others(r) && !others(o);
        return !others(w) && (mine(r) || mine(o) || (current(r) && current(o)));
    }

    static bool Check(Cell& c, const BlockAccess& now, bool write, uintptr_t address, Conflict* conflict)
    {
        if (IsOutside(c.write))
        {
            *conflict = Conflict{address, BlockAccess{}, false, true, false};
            return false;
        }
        auto races = [&](const BlockAccess& a) { return a.launch == now.launch && a.block != now.block; };
        const BlockAccess* other = races(c.write) ? &c.write
                                 : !write ? nullptr
                                 : races(c.read) ? &c.read
                                 : races(c.otherRead) ? &c.otherRead : nullptr;
        if (other)
        {
            *conflict = Conflict{address, *other, other == &c.write, false, false};
            return false;
        }
        if (write)
        {
            Store(c.write, now);
            Store(c.read, BlockAccess{});
            Store(c.otherRead, BlockAccess{});
        }
        else if (c.read.launch != now.launch)
            Store(c.read, now);
        else if (c.read.block != now.block)
            Store(c.otherRead, now);
        return true;
    }

    // A word's bytes take records of their own, each its word's record as it was (nothing when split already).
    void Split(size_t word)
    {
        if (split_[word]) return;
        for (int k = 0; k < 4; k++) bytes_[word * 4 + k] = words_[word];
        __atomic_store_n(&split_[word], 1, __ATOMIC_RELAXED);
    }

    // Whether the byte at p is marked outside every allocation (the bounds check reports it, not this one).
    bool Outside(uintptr_t p) const
    {
        const size_t word = (p - lo_) / 4;
        return IsOutside(split_[word] ? bytes_[p - lo_].write : words_[word].write);
    }

    // Exactly [p, p + bytes) of a record array back to zeros: whole pages dropped, the ends cleared.
    void Zero(unsigned char* p, size_t bytes)
    {
        const uintptr_t from = ((uintptr_t)p + page_ - 1) / page_ * page_, to = ((uintptr_t)p + bytes) / page_ * page_;
        if (from >= to)
        {
            memset(p, 0, bytes);
            return;
        }
        memset(p, 0, from - (uintptr_t)p);
        madvise((void*)from, to - from, MADV_DONTNEED);
        memset((void*)to, 0, (uintptr_t)p + bytes - to);
    }

    void Drop(void* p, size_t bytes)
    {
        const uintptr_t from = (uintptr_t)p / page_ * page_;
        const uintptr_t to = ((uintptr_t)p + bytes + page_ - 1) / page_ * page_;
        madvise((void*)from, to - from, MADV_DONTNEED);
    }

    size_t page_ = 4096;
    uintptr_t lo_ = 0, hi_ = 0;
    Cell* words_ = nullptr;
    Cell* bytes_ = nullptr;
    unsigned char* split_ = nullptr;
    unsigned char* written_ = nullptr;   // a bit per byte: written since its allocation
    std::map<uintptr_t, size_t> free_;   // start → length
    Lock locks_[kLocks];
};
} // namespace rose_emu_device
#pragma GCC visibility pop
