// A census of what a run asks of an emulated library: what → (calls, amount), thread-safe, read as
// text with one "calls amount what" line each (the format tests/Rose.Tests/Cuda/EmulatorDriver.cs
// parses). The driver counts blocking calls, allocations and launches with it, cuBLAS GEMM flops.
#pragma once

#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace rose_emu
{
class Census
{
public:
    void Add(const std::string& what, long long amount = 0)
    {
        std::lock_guard<std::mutex> guard(lock);
        auto& entry = counts[what];
        entry.first++;
        entry.second += amount;
    }

    std::string Text()
    {
        std::lock_guard<std::mutex> guard(lock);
        std::string text;
        for (const auto& [what, entry] : counts)
            text += std::to_string(entry.first) + " " + std::to_string(entry.second) + " " + what + "\n";
        return text;
    }

    // What a library's exported census call returns: the text, NUL-terminated, copied into `buffer`
    // when it fits in `size` bytes, and its length either way.
    long long CopyText(char* buffer, long long size)
    {
        const std::string text = Text();
        if (buffer && (long long)text.size() < size) memcpy(buffer, text.c_str(), text.size() + 1);
        return (long long)text.size();
    }

    void Reset()
    {
        std::lock_guard<std::mutex> guard(lock);
        counts.clear();
    }

private:
    std::mutex lock;
    std::map<std::string, std::pair<long long, long long>> counts;
};
} // namespace rose_emu
