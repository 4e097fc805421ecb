#!/usr/bin/env pwsh
<#
.SYNOPSIS
    The pwsh user's front door to building Sandbox: the same steps CI runs, from PowerShell.
.DESCRIPTION
    -InstallDependencies installs the Debian packages (tools/setup.sh, needs root or sudo) and builds.
    Otherwise builds the solution, which lays out the importable module folder out/Sandbox.
    -Test runs every test (tools/test.sh: xunit against the real tools, then this Pester suite).
    -Bench runs the benchmark (bench/run.sh, as root).
.EXAMPLE
    ./build.ps1 -InstallDependencies -Test
.EXAMPLE
    ./build.ps1; Import-Module ./out/Sandbox
#>
[CmdletBinding()]
param(
    [switch] $InstallDependencies,
    [switch] $Test,
    [switch] $Bench
)
$ErrorActionPreference = 'Stop'
Set-Location $PSScriptRoot

function Invoke-Step([string] $Name, [scriptblock] $Step) {
    Write-Host "==> $Name"
    & $Step
    if ($LASTEXITCODE -ne 0) { throw "$Name failed with exit code $LASTEXITCODE." }
}

if ($InstallDependencies) {
    Invoke-Step 'Install the Debian packages and build' { bash tools/setup.sh }
} else {
    # Release, as tools/test.sh tests the Release build.
    Invoke-Step 'Build' { dotnet build Sandbox.sln -c Release }
}
if ($Test) { Invoke-Step 'Test' { bash tools/test.sh } }
if ($Bench) { Invoke-Step 'Bench' { bash bench/run.sh } }
Write-Host "Module folder: $(Join-Path $PSScriptRoot 'out/Sandbox')"
