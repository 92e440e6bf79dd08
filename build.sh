#!/usr/bin/env bash
# Rose build entry point. Verbs: build | test | demo | bench [--full] | run -- <rose args>
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v dotnet >/dev/null 2>&1; then
  echo "The .NET 10 SDK is required but 'dotnet' is not on PATH." >&2
  echo "Install it from https://dotnet.microsoft.com/download/dotnet/10.0 or, on Debian/Ubuntu:" >&2
  echo "  wget https://dot.net/v1/dotnet-install.sh && bash dotnet-install.sh --channel 10.0 && export PATH=\$HOME/.dotnet:\$PATH" >&2
  exit 1
fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

verb="${1:-build}"; shift || true
config=Release
cli=src/Rose.Cli/bin/$config/net10.0/Rose.Cli.dll

build() { dotnet build Rose.sln -c "$config" --nologo -v quiet "$@"; }

# The GPU tests (category Gpu, or what the arguments select) again on tests/CudaEmulator: the CUDA
# libraries emulated on the CPU, so kernels and the device pipeline are checked where no GPU is.
# Needs g++ 12+; ROSE_REQUIRE_EMULATOR=1 (CI) fails without it, ROSE_EMULATED_TESTS=0 skips it.
emulated_tests() {
  if [ "${ROSE_EMULATED_TESTS:-1}" = 0 ]; then echo "GPU tests on the CPU emulator: skipped (ROSE_EMULATED_TESTS=0)"; return; fi
  if ! command -v "${ROSE_EMU_CXX:-g++}" >/dev/null 2>&1; then
    if [ "${ROSE_REQUIRE_EMULATOR:-0}" = 1 ]; then echo "GPU tests on the CPU emulator need g++ (ROSE_REQUIRE_EMULATOR=1)" >&2; exit 1; fi
    echo "GPU tests on the CPU emulator: skipped (no g++; install it to run them)"; return
  fi
  local emu=tests/CudaEmulator/bin
  mkdir -p "$emu"
  bash tests/CudaEmulator/build.sh "$emu" > "$emu/build.log" 2>&1 || { cat "$emu/build.log" >&2; exit 1; }
  [ $# -gt 0 ] || set -- --filter "TestCategory=Gpu"
  echo "GPU tests on the CPU emulator ($emu):"
  ROSE_CUDA_LIB_DIR="$PWD/$emu" ROSE_EMU_CACHE="$PWD/$emu/cache" XDG_CACHE_HOME="$PWD/$emu/cache" \
    dotnet test --project tests/Rose.Tests/Rose.Tests.csproj -c "$config" --no-build "$@"
}

case "$verb" in
  build) build "$@" ;;
  test)
    build
    dotnet test --project tests/Rose.Tests/Rose.Tests.csproj -c "$config" --no-build "$@"
    emulated_tests "$@" ;;
  demo)
    build
    dotnet "$cli" demo "$@" ;;
  bench)
    dotnet build bench/Rose.Bench/Rose.Bench.csproj -c "$config" --nologo -v quiet
    if [ "${1:-}" = "--full" ]; then shift; set -- --filter '*' --anyCategories full "$@"; else set -- --filter '*' --anyCategories quick "$@"; fi
    dotnet bench/Rose.Bench/bin/$config/net10.0/Rose.Bench.dll "$@" ;;
  run)
    [ "${1:-}" = "--" ] && shift
    build
    dotnet "$cli" "$@" ;;
  *) echo "usage: ./build.sh build|test|demo|bench [--full]|run -- <rose args>" >&2; exit 1 ;;
esac
