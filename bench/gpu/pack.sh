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
# The publish built bin/ without apphosts (UseAppHost=false), which leaves `dotnet test --no-build` unable
# to start the test program here; build it back.
dotnet build tests/Rose.Tests -c Release --nologo -v quiet > /dev/null
du -sh .gpu
