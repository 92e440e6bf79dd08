// The "CUBIN" the emulator's NVRTC returns and its driver loads: a magic tag, the length, a hash of
// the kernel prelude it was built with and of whether the race check was built in, then the kernel file
// built as a shared library. The tag lets a real driver reject it cleanly and lets ours refuse a real
// CUBIN with a message instead of crashing; the hash refuses an image an older emulator left in a kernel
// cache (its blocks would not match), or one built with the race check switched the other way (Rose's
// cache keys know nothing of ROSE_EMU_RACECHECK, and loading it would drop the check without a word).
#pragma once

#include <stdint.h>
#include <stdlib.h>
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

// Whether kernels are built with the race check: unless ROSE_EMU_RACECHECK=0.
inline bool RaceCheck()
{
    const char* value = getenv("ROSE_EMU_RACECHECK");
    return !(value && strcmp(value, "0") == 0);
}

// What an image's header holds of how it was built: the prelude's text and the race check switch.
inline uint64_t BuildHash(const char* prelude, size_t length, bool raceCheck)
{
    return Hash(prelude, length) ^ (raceCheck ? 0x9E3779B97F4A7C15ull : 0);
}

inline std::string Wrap(const std::string& library, uint64_t buildHash)
{
    std::string image(kMagic, sizeof kMagic);
    const uint64_t size = library.size();
    image.append(reinterpret_cast<const char*>(&size), sizeof size);
    image.append(reinterpret_cast<const char*>(&buildHash), sizeof buildHash);
    return image + library;
}

// The library inside an image, or false when it is not one of ours.
inline bool Unwrap(const void* image, const char** library, uint64_t* size, uint64_t* buildHash)
{
    const char* bytes = static_cast<const char*>(image);
    if (memcmp(bytes, kMagic, sizeof kMagic) != 0) return false;
    memcpy(size, bytes + sizeof kMagic, sizeof *size);
    memcpy(buildHash, bytes + sizeof kMagic + sizeof *size, sizeof *buildHash);
    *library = bytes + kHeader;
    return true;
}
} // namespace rose_emu_image
