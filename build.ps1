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
function Build([string[]]$extra = @()) { Invoke-Checked dotnet (@('build', 'Rose.sln', '-c', $config, '--nologo', '-v', 'quiet') + $extra) }

switch ($Verb) {
    'build' { Build $Rest }
    'test' {
        Build
        Invoke-Checked dotnet (@('test', '--project', 'tests/Rose.Tests/Rose.Tests.csproj', '-c', $config, '--no-build') + $Rest)
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
