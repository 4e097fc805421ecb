#!/usr/bin/env pwsh
<#
.SYNOPSIS
    The pwsh user's front door to building Sandbox: the same steps CI runs, from PowerShell.
.DESCRIPTION
    -InstallDependencies installs the Debian packages (tools/setup.sh, needs root or sudo) and builds.
    Otherwise builds the solution, which lays out the importable module folder out/Sandbox.
    -Test runs every test (tools/test.sh: xunit against the real tools, then this Pester suite).
    -Bench runs the benchmark (bench/run.sh, as root).
    -Package makes out/Sandbox.<version>.nupkg, the PowerShell Gallery package, with PSResourceGet's
    Compress-PSResource: the file Publish-PSResource would publish (without pwsh:
    dotnet pack build/Package.csproj -c Release). The version is Directory.Build.props's.
.EXAMPLE
    ./build.ps1 -Package; Publish-PSResource -NupkgPath ./out/Sandbox.0.2.0.nupkg -Repository PSGallery -ApiKey $key
.EXAMPLE
    ./build.ps1 -InstallDependencies -Test
.EXAMPLE
    ./build.ps1; Import-Module ./out/Sandbox
#>
[Diagnostics.CodeAnalysis.SuppressMessageAttribute('PSAvoidUsingWriteHost', '',
    Justification = 'A build script reports its steps to the console, like make; they must not mix into the pipeline.')]
[CmdletBinding()]
param(
    [switch] $InstallDependencies,
    [switch] $Test,
    [switch] $Bench,
    [switch] $Package
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
if ($Package) {
    Write-Host '==> Package'
    $moduleFolder = Join-Path $PSScriptRoot 'out/Sandbox'
    $manifest = Import-PowerShellDataFile (Join-Path $moduleFolder 'Sandbox.psd1')
    $version = $manifest.ModuleVersion
    if ($manifest.PrivateData.PSData.Prerelease) { $version += "-$($manifest.PrivateData.PSData.Prerelease)" }
    $nupkg = Join-Path $PSScriptRoot "out/Sandbox.$version.nupkg"
    # Compress-PSResource refuses to overwrite: a rebuild of the same version replaces the old file.
    if (Test-Path $nupkg) { Remove-Item $nupkg }
    Import-Module Microsoft.PowerShell.PSResourceGet -MinimumVersion 1.1.0
    Compress-PSResource -Path $moduleFolder -DestinationPath (Join-Path $PSScriptRoot 'out')
    if (-not (Test-Path $nupkg)) { throw "Compress-PSResource did not make $nupkg." }
    Write-Host "Package: $nupkg"
}
if ($Test) { Invoke-Step 'Test' { bash tools/test.sh } }
if ($Bench) { Invoke-Step 'Bench' { bash bench/run.sh } }
Write-Host "Module folder: $(Join-Path $PSScriptRoot 'out/Sandbox')"
