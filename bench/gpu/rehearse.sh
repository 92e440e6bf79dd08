#!/usr/bin/env bash
# Runs bench/gpu/device-checks.sh here, before it costs device time: the same packed builds (.gpu),
# the same commands, against the CPU emulator of CUDA (tests/CudaEmulator) and with the work shrunk
# (the tiny architecture, 8 x 128 calibration tokens, timeouts x4). What it shows is whether every
# step's commands, paths and options work and summarize.py reads what they leave; the speed and the
# 7B/70B shapes are the device's business. Steps that need PyTorch (3, the baselines in 4 and 7) fail
# here unless torch is installed, and step 6's profile needs nsys or ncu (its kernel benchmarks run the quick shapes).
#
#   bench/gpu/pack.sh && bench/gpu/rehearse.sh [steps]     (output in $OUT, default /tmp/rose-rehearsal)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f .gpu/env.sh ] || { echo "no .gpu: run bench/gpu/pack.sh first" >&2; exit 1; }
emu=${ROSE_EMU_DIR:-tests/CudaEmulator/bin}
bash tests/CudaEmulator/build.sh "$emu" > /dev/null
emu=$(realpath "$emu")
# Without the emulator's race check, which ./build.sh test runs: it would make the steps ~1.8x slower than
# the timeouts (x4) were sized for, and this run is about the script, not the kernels. A kernel cache of its
# own: Rose's cache does not know which way an emulator image was built, and the emulator refuses one built
# the other way.
export ROSE_EMU_RACECHECK=0
export ROSE_CUDA_LIB_DIR=$emu XDG_CACHE_HOME=$emu/cache-norace ROSE_EMU_CACHE=$emu/cache-norace
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export ROSE_CHECK_TMP=$scratch ROSE_CHECK_ARCH=tiny ROSE_CHECK_BIG_ARCH=tiny ROSE_CHECK_NSAMPLES=8 ROSE_CHECK_SEQLEN=128
export ROSE_CHECK_TIME_SCALE=4 ROSE_CHECK_CASE="256 688 2 128" ROSE_CHECK_KERNEL_SET=quick OUT=${OUT:-/tmp/rose-rehearsal}
bash bench/gpu/device-checks.sh "$@"
echo "rehearsal output: $OUT"
