// Stream order for the emulated cuBLAS and cuSOLVER: their work is queued on the handle's stream in
// the emulated driver (libcuda.so.1's rose_emu_enqueue), behind the kernels and copies queued there
// before it, and runs when the host synchronizes, as on a GPU. Without the emulated driver loaded
// (the libraries' own self-test) it runs at once. And their operands' bounds: a matrix that does not
// fit in its allocation is refused (the driver's rose_emu_inside_allocation), where a GPU would read
// or write past its end; and what they write is recorded for the driver's initialization check.
#pragma once
#include <dlfcn.h>
#include <stdint.h>

#include <functional>
#include <string>
#include <utility>

namespace rose_emu
{
// A function the emulated driver exports for these libraries, or null when no driver is loaded.
template <class Fn> Fn DriverFunction(const char* name)
{
    void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
    return driver ? reinterpret_cast<Fn>(dlsym(driver, name)) : nullptr;
}

using EnqueueFn = int (*)(void* stream, int (*run)(void*), void* context);

inline EnqueueFn DriverEnqueue()
{
    static const EnqueueFn enqueue = DriverFunction<EnqueueFn>("rose_emu_enqueue");
    return enqueue;
}

// Whether a column-major matrix of rows × cols with leading dimension ld (elements of `size` bytes), `batches`
// of them `stride` elements apart, lies inside one allocation of the emulated driver; if not, *why says
// where it leaves it. Always true without the driver.
inline bool InsideDevice(const void* p, int64_t rows, int64_t cols, int64_t ld, int size, std::string* why, int64_t batches = 1,
                         int64_t stride = 0)
{
    if (rows <= 0 || cols <= 0 || batches <= 0) return true;
    using InsideFn = int (*)(uintptr_t, size_t, char*, int);
    static const InsideFn inside = DriverFunction<InsideFn>("rose_emu_inside_allocation");
    if (!inside) return true;
    const int64_t elements = (batches - 1) * stride + (cols - 1) * ld + rows;
    char text[256] = {0};
    if (inside(reinterpret_cast<uintptr_t>(p), (size_t)elements * size, text, (int)sizeof text)) return true;
    *why = text;
    return false;
}

// The initialization check's record that a library call wrote a matrix (as InsideDevice describes it), called
// as the call's work runs. Nothing without the driver.
inline void MarkWritten(const void* p, int64_t rows, int64_t cols, int64_t ld, int size, int64_t batches = 1, int64_t stride = 0)
{
    using MarkFn = void (*)(uintptr_t, int64_t, int64_t, int64_t, int, int64_t, int64_t);
    static const MarkFn mark = DriverFunction<MarkFn>("rose_emu_mark_written");
    if (mark && rows > 0 && cols > 0) mark(reinterpret_cast<uintptr_t>(p), rows, cols, ld, size, batches, stride);
}

// Whether every byte a library call reads of a matrix (as InsideDevice describes it; `triangle` 1: the lower
// triangle of each column, 2: the upper) has been written since its allocation, asked as the call's work
// runs; if not, *why says which byte. Always true without the driver.
inline bool AllWritten(const void* p, int64_t rows, int64_t cols, int64_t ld, int size, std::string* why, int triangle = 0,
                       int64_t batches = 1, int64_t stride = 0)
{
    using UnwrittenFn = int (*)(uintptr_t, int64_t, int64_t, int64_t, int, int64_t, int64_t, int, uint64_t*, uint64_t*);
    static const UnwrittenFn unwritten = DriverFunction<UnwrittenFn>("rose_emu_unwritten_in");
    uint64_t offset = 0, bytes = 0;
    if (!unwritten || !unwritten(reinterpret_cast<uintptr_t>(p), rows, cols, ld, size, batches, stride, triangle, &offset, &bytes))
        return true;
    *why = "byte " + std::to_string(offset) + " of a " + std::to_string(bytes) +
           "-byte allocation, which nothing has written since it was allocated";
    return false;
}

// Queues `work` on `stream`; returns `ok` once queued (the work's own status, when it runs at once).
// Arguments the caller passes by host pointer (alpha, beta) must be captured by value: the caller may
// reuse them as soon as the call returns.
inline int OnStream(void* stream, std::function<int()> work, int ok)
{
    EnqueueFn enqueue = DriverEnqueue();
    if (!enqueue) return work();
    auto* queued = new std::function<int()>(std::move(work));
    enqueue(stream, [](void* context) {
        auto* w = static_cast<std::function<int()>*>(context);
        const int status = (*w)();
        delete w;
        return status;
    }, queued);
    return ok;
}
} // namespace rose_emu
