#!/usr/bin/env bash
# Builds the CPU emulator of the CUDA libraries into $1 (default tests/CudaEmulator/bin):
# libcuda.so.1, libnvrtc.so.13, libcublas.so.13, libcusolver.so.12. Point ROSE_CUDA_LIB_DIR at that
# folder and Rose's GPU code paths run on the CPU (see README, "GPU tests on the CPU emulator").
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/bin}"
mkdir -p "$out"
cxx="${ROSE_EMU_CXX:-g++}"

# Rebuilt only when a source changed; then the kernel caches under $out/cache* go too, since Rose's
# own cache would otherwise hand the new libraries images built with the old prelude.
stamp="$( (cat "$here"/*.h "$here"/*.cpp "$here"/*.sh; "$cxx" --version) | sha256sum | cut -c1-64)"
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] && [ -f "$out/libcuda.so.1" ]; then
  echo "CUDA emulator in $out is up to date"
  exit 0
fi
rm -rf "$out"/cache* "$out/stamp"
flags=(-std=c++17 -O2 -fPIC -shared -Wall -Werror -ffp-contract=off)

# The prelude travels inside libnvrtc as a string, so the built folder is self-contained.
{
  printf 'static const char kPrelude[] = R"ROSE_PRELUDE('
  cat "$here/emu_kernel_prelude.h"
  printf ')ROSE_PRELUDE";\n'
} > "$out/prelude_text.inc"

"$cxx" "${flags[@]}" -I "$out" -I "$here" -Wl,-soname,libnvrtc.so.13 -o "$out/libnvrtc.so.13" "$here/fake_nvrtc.cpp"
"$cxx" "${flags[@]}" -I "$out" -I "$here" -Wl,-soname,libcuda.so.1 -o "$out/libcuda.so.1" "$here/fake_cuda.cpp" -ldl -lpthread
bash "$here/build-blas.sh" "$out"
"$cxx" -std=c++17 -O1 -Wall -Werror -pthread -o "$out/emu_selftest" "$here/emu_selftest.cpp" -L "$out" -l:libnvrtc.so.13 -l:libcuda.so.1 \
  -Wl,-rpath,"$(cd "$out" && pwd)"
ROSE_EMU_CACHE="$out/cache" "$out/emu_selftest"
# Again with the portable swapcontext fibers that architectures other than x86-64 use.
ROSE_EMU_CXX="$cxx -DROSE_EMU_UCONTEXT" ROSE_EMU_CACHE="$out/cache" "$out/emu_selftest" > "$out/selftest-ucontext.log" 2>&1 ||
  { cat "$out/selftest-ucontext.log"; echo "emu_selftest failed with swapcontext fibers" >&2; exit 1; }
echo "emu_selftest: all checks passed with swapcontext fibers too"
# And with kernels built without the race check (ROSE_EMU_RACECHECK=0), as bench/gpu/rehearse.sh builds them.
ROSE_EMU_RACECHECK=0 ROSE_EMU_CACHE="$out/cache" "$out/emu_selftest" > "$out/selftest-norace.log" 2>&1 ||
  { cat "$out/selftest-norace.log"; echo "emu_selftest failed without the race check" >&2; exit 1; }
echo "emu_selftest: all checks passed without the race check too"
echo "$stamp" > "$out/stamp"
echo "CUDA emulator built in $out"
