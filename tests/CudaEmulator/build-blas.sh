#!/usr/bin/env bash
# Builds the CPU emulations of cuBLAS and cuSOLVER (libcublas.so.13, libcusolver.so.12) into the
# folder given as $1, then builds and runs their self-test against naive references, so a broken
# emulator is caught here rather than as a puzzling failure in the Gpu test category.
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 OUTPUT_DIR" >&2
    exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
cxx="${CXX:-g++}"
# -ffp-contract=off: no fused multiply-adds, so every sum rounds exactly as the source says and
# the GEMM equals a naive fp32 loop. Only the extern "C" API is exported (hidden visibility, inline std templates too).
flags=(-std=c++17 -O2 -fPIC -ffp-contract=off -fvisibility=hidden -fvisibility-inlines-hidden -pthread -Wall -Wextra)

"$cxx" "${flags[@]}" -shared -Wl,-soname,libcublas.so.13 -o "$out/libcublas.so.13" "$here/fake_cublas.cpp" -ldl
"$cxx" "${flags[@]}" -shared -Wl,-soname,libcusolver.so.12 -o "$out/libcusolver.so.12" "$here/fake_cusolver.cpp" -ldl
# Rose binds these by their C names; a missing or C++-mangled export would only show up as an
# EntryPointNotFoundException deep inside a test, so check the dynamic symbol tables here.
if command -v nm >/dev/null; then
    check_exports() {
        local lib="$1"; shift
        local defined
        defined="$(nm -D --defined-only "$lib" | awk '{print $3}')"
        for name in "$@"; do
            if ! grep -qx "$name" <<<"$defined"; then
                echo "build-blas.sh: $lib does not export $name with C linkage" >&2
                exit 1
            fi
        done
    }
    check_exports "$out/libcublas.so.13" cublasCreate_v2 cublasDestroy_v2 cublasSetStream_v2 cublasSetMathMode \
        cublasGetVersion_v2 cublasSgemm_v2 cublasGemmEx cublasGemmStridedBatchedEx
    check_exports "$out/libcusolver.so.12" cusolverGetVersion cusolverGetProperty cusolverDnCreate cusolverDnDestroy \
        cusolverDnSetStream cusolverDnSpotrf_bufferSize cusolverDnSpotrf cusolverDnSpotri_bufferSize cusolverDnSpotri \
        cusolverDnSpotrs cusolverDnXtrtri_bufferSize cusolverDnXtrtri
fi

"$cxx" -std=c++17 -O2 -ffp-contract=off -pthread -Wall -Wextra -o "$out/emu_blas_selftest" "$here/emu_blas_selftest.cpp" \
    "$out/libcublas.so.13" "$out/libcusolver.so.12" -Wl,-rpath,"$out"
"$out/emu_blas_selftest"
