// Spreads the emulated BLAS and solver work over the host's cores.
#pragma once

#include <atomic>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

namespace rose_emu_threads
{
// Runs work(t) for every t in [0, threads), the calling thread taking t = 0. An exception must not
// leave a worker thread (that would terminate the host process), so a failed allocation there is
// recorded and rethrown here, for the entry point to report; with no thread to be had, the calling
// thread does the missing shares itself and the result is the same.
template <typename Work>
void RunOnThreads(int threads, const Work& work)
{
    std::atomic<bool> outOfMemory{false};
    auto run = [&](int t) {
        try
        {
            work(t);
        }
        catch (const std::bad_alloc&)
        {
            outOfMemory = true;
        }
    };
    std::vector<std::thread> pool;
    int started = 1;
    try
    {
        for (; started < threads; started++) pool.emplace_back(run, started);
    }
    catch (const std::system_error&)
    {
    }
    run(0);
    for (int t = started; t < threads; t++) run(t);
    for (auto& th : pool) th.join();
    if (outOfMemory) throw std::bad_alloc();
}
} // namespace rose_emu_threads
