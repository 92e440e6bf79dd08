// Stream order for the emulated cuBLAS and cuSOLVER: their work is queued on the handle's stream in
// the emulated driver (libcuda.so.1's rose_emu_enqueue), behind the kernels and copies queued there
// before it, and runs when the host synchronizes, as on a GPU. Without the emulated driver loaded
// (the libraries' own self-test) it runs at once.
#pragma once
#include <dlfcn.h>

#include <functional>
#include <utility>

namespace rose_emu
{
using EnqueueFn = int (*)(void* stream, int (*run)(void*), void* context);

inline EnqueueFn DriverEnqueue()
{
    static const EnqueueFn enqueue = [] {
        void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
        return driver ? reinterpret_cast<EnqueueFn>(dlsym(driver, "rose_emu_enqueue")) : nullptr;
    }();
    return enqueue;
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
