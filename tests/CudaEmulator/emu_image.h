// The "CUBIN" the emulator's NVRTC returns and its driver loads: a magic tag, the length, a hash of
// the kernel prelude it was built with, then the kernel file built as a shared library. The tag lets a
// real driver reject it cleanly and lets ours refuse a real CUBIN with a message instead of crashing;
// the hash refuses an image an older emulator left in a kernel cache (its blocks would not match).
#pragma once

#include <stdint.h>
#include <string.h>

#include <string>

namespace rose_emu_image
{
constexpr char kMagic[8] = {'R', 'O', 'S', 'E', 'E', 'M', 'U', '2'};
constexpr size_t kHeader = 24;

inline uint64_t Hash(const char* text, size_t length)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < length; i++) h = (h ^ (unsigned char)text[i]) * 1099511628211ull;
    return h;
}

inline std::string Wrap(const std::string& library, uint64_t preludeHash)
{
    std::string image(kMagic, sizeof kMagic);
    const uint64_t size = library.size();
    image.append(reinterpret_cast<const char*>(&size), sizeof size);
    image.append(reinterpret_cast<const char*>(&preludeHash), sizeof preludeHash);
    return image + library;
}

// The library inside an image, or false when it is not one of ours.
inline bool Unwrap(const void* image, const char** library, uint64_t* size, uint64_t* preludeHash)
{
    const char* bytes = static_cast<const char*>(image);
    if (memcmp(bytes, kMagic, sizeof kMagic) != 0) return false;
    memcpy(size, bytes + sizeof kMagic, sizeof *size);
    memcpy(preludeHash, bytes + sizeof kMagic + sizeof *size, sizeof *preludeHash);
    *library = bytes + kHeader;
    return true;
}
} // namespace rose_emu_image
