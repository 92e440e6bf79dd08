#!/usr/bin/env pwsh
# Rose build entry point. Verbs: build | test | demo | bench [--full] | run -- <rose args>
param([Parameter(Position = 0)][string]$Verb = 'build', [Parameter(ValueFromRemainingArguments = $true)][string[]]$Rest = @())
$ErrorActionPreference = 'Stop'
Set-Location $PSScriptRoot

if (-not (Get-Command dotnet -ErrorAction SilentlyContinue)) {
    Write-Error "The .NET 10 SDK is required but 'dotnet' is not on PATH. Install it from https://dotnet.microsoft.com/download/dotnet/10.0"
    exit 1
}
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'; $env:DOTNET_NOLOGO = '1'
$config = 'Release'
$cli = "src/Rose.Cli/bin/$config/net10.0/Rose.Cli.dll"

function Invoke-Checked([string]$exe, [string[]]$arguments) {
    & $exe @arguments
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}
# The GPU tests (category Gpu, or what the arguments select) again on tests/CudaEmulator: the CUDA
# libraries emulated on the CPU (Linux with g++ 12+). ROSE_REQUIRE_EMULATOR=1 (CI) fails without
# g++, ROSE_EMULATED_TESTS=0 skips the pass.
function Invoke-EmulatedTests([string[]]$selection) {
    if ($env:ROSE_EMULATED_TESTS -eq '0') { Write-Host 'GPU tests on the CPU emulator: skipped (ROSE_EMULATED_TESTS=0)'; return }
    $cxx = if ($env:ROSE_EMU_CXX) { $env:ROSE_EMU_CXX } else { 'g++' }
    if (-not $IsLinux -or -not (Get-Command $cxx -ErrorAction SilentlyContinue) -or -not (Get-Command bash -ErrorAction SilentlyContinue)) {
        if ($env:ROSE_REQUIRE_EMULATOR -eq '1') { Write-Error 'GPU tests on the CPU emulator need Linux, bash and g++ (ROSE_REQUIRE_EMULATOR=1)'; exit 1 }
        Write-Host 'GPU tests on the CPU emulator: skipped (it needs Linux, bash and g++)'; return
    }
    $emu = 'tests/CudaEmulator/bin'
    New-Item -ItemType Directory -Force $emu | Out-Null
    & bash tests/CudaEmulator/build.sh $emu *> "$emu/build.log"
    if ($LASTEXITCODE -ne 0) { Get-Content "$emu/build.log" | Write-Host; exit $LASTEXITCODE }
    if ($selection.Count -eq 0) { $selection = @('--filter', 'TestCategory=Gpu') }
    Write-Host "GPU tests on the CPU emulator ($emu):"
    $saved = @($env:ROSE_CUDA_LIB_DIR, $env:ROSE_EMU_CACHE, $env:XDG_CACHE_HOME)
    $env:ROSE_CUDA_LIB_DIR = Join-Path $PWD $emu
    $env:ROSE_EMU_CACHE = Join-Path $PWD "$emu/cache"
    $env:XDG_CACHE_HOME = $env:ROSE_EMU_CACHE
    try { Invoke-Checked dotnet (@('test', '--project', 'tests/Rose.Tests/Rose.Tests.csproj', '-c', $config, '--no-build') + $selection) }
    finally { $env:ROSE_CUDA_LIB_DIR, $env:ROSE_EMU_CACHE, $env:XDG_CACHE_HOME = $saved }
}
function Build([string[]]$extra = @()) { Invoke-Checked dotnet (@('build', 'Rose.sln', '-c', $config, '--nologo', '-v', 'quiet') + $extra) }

switch ($Verb) {
    'build' { Build $Rest }
    'test' {
        Build
        Invoke-Checked dotnet (@('test', '--project', 'tests/Rose.Tests/Rose.Tests.csproj', '-c', $config, '--no-build') + $Rest)
        Invoke-EmulatedTests $Rest
    }
    'demo' { Build; Invoke-Checked dotnet (@($cli, 'demo') + $Rest) }
    'bench' {
        Invoke-Checked dotnet @('build', 'bench/Rose.Bench/Rose.Bench.csproj', '-c', $config, '--nologo', '-v', 'quiet')
        $category = 'quick'
        if ($Rest.Count -gt 0 -and $Rest[0] -eq '--full') { $category = 'full'; $Rest = $Rest | Select-Object -Skip 1 }
        Invoke-Checked dotnet (@("bench/Rose.Bench/bin/$config/net10.0/Rose.Bench.dll", '--filter', '*', '--anyCategories', $category) + $Rest)
    }
    'run' {
        if ($Rest.Count -gt 0 -and $Rest[0] -eq '--') { $Rest = $Rest | Select-Object -Skip 1 }
        Build
        Invoke-Checked dotnet (@($cli) + $Rest)
    }
    default { Write-Error 'usage: ./build.ps1 build|test|demo|bench [--full]|run -- <rose args>'; exit 1 }
}
