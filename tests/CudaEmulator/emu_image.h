// The "CUBIN" the emulator's NVRTC returns and its driver loads: a magic tag, the length, then the
// kernel file built as a shared library. The tag lets a real driver reject it cleanly and lets ours
// refuse a real CUBIN with a message instead of crashing.
#pragma once

#include <stdint.h>
#include <string.h>

#include <string>

namespace rose_emu_image
{
constexpr char kMagic[8] = {'R', 'O', 'S', 'E', 'E', 'M', 'U', '1'};
constexpr size_t kHeader = 16;

inline std::string Wrap(const std::string& library)
{
    std::string image(kMagic, sizeof kMagic);
    const uint64_t size = library.size();
    image.append(reinterpret_cast<const char*>(&size), sizeof size);
    return image + library;
}

// The library inside an image, or false when it is not one of ours.
inline bool Unwrap(const void* image, const char** library, uint64_t* size)
{
    const char* bytes = static_cast<const char*>(image);
    if (memcmp(bytes, kMagic, sizeof kMagic) != 0) return false;
    memcpy(size, bytes + sizeof kMagic, sizeof *size);
    *library = bytes + kHeader;
    return true;
}
} // namespace rose_emu_image
