#!/usr/bin/env bash
# Packs what bench/gpu/device-checks.sh needs into .gpu (carry it; the GPU machine has no .NET):
# the runtime and the test and benchmark builds, trimmed to linux-x64 and with the benchmark
# program compressed, so the working tree stays under the 64 MiB a device call carries.
set -euo pipefail
cd "$(dirname "$0")/../.."
../shared/tools/gpu-pack.sh tests/Rose.Tests bench/Rose.Bench > /dev/null
rm -rf .gpu/*/{CodeCoverage,x86,arm64,alpine,macos,x64,ubuntu,amd64} .gpu/*/runtimes/win*
tar -C .gpu -cJf .gpu/Rose.Bench.tar.xz Rose.Bench
rm -rf .gpu/Rose.Bench
du -sh .gpu
