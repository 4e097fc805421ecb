#!/usr/bin/env pwsh
# Runs the Pester suite against the built module (out/Sandbox). Says plainly when it cannot run.
# With -ResultFile, writes "passed failed skipped" there for tools/test.sh's closing line.
param([string] $ResultFile)
$ErrorActionPreference = 'Stop'
$pester = Get-Module -ListAvailable -Name Pester | Where-Object Version -ge '5.0.0' | Sort-Object Version -Descending | Select-Object -First 1
if (-not $pester) {
    Write-Host 'SKIPPED: the Pester suite, because Pester 5 is not installed (Install-Module Pester -MinimumVersion 5).'
    if ($ResultFile) { Set-Content -Path $ResultFile -Value '0 1 0' }
    exit 1
}
Import-Module $pester
$configuration = New-PesterConfiguration
$configuration.Run.Path = $PSScriptRoot
$configuration.Run.PassThru = $true
$configuration.Output.Verbosity = 'Detailed'
# One cache folder for this run only (a fresh name each time, removed at the end, never reused): the
# files that need a bookworm image import the one PesterStore.ps1's Get-SharedBookworm builds there.
$cache = Join-Path ([IO.Path]::GetTempPath()) "sandbox-pester-cache-$([guid]::NewGuid().ToString('N'))"
$null = New-Item -ItemType Directory -Path $cache
chmod 700 $cache
$previousCache = $env:SANDBOX_PESTER_CACHE
$env:SANDBOX_PESTER_CACHE = $cache
$cacheLeft = 0
try { $run = Invoke-Pester -Configuration $configuration }
finally {
    $env:SANDBOX_PESTER_CACHE = $previousCache
    . (Join-Path $PSScriptRoot 'PesterStore.ps1') # for Remove-PesterFolder
    try { Remove-PesterFolder $cache }
    catch { Write-Host "FAILED: the run's cache folder stays behind: $_"; $cacheLeft = 1 }
}
# A test that did not run (skipped, not run, inconclusive) is not a pass; a failed container
# (a script that would not even load) counts as a failure, and so does a cache left on the host.
$failed = $run.FailedCount + $run.FailedBlocksCount + $run.FailedContainersCount + $cacheLeft
$skipped = $run.SkippedCount + $run.NotRunCount + $run.InconclusiveCount
if ($ResultFile) { Set-Content -Path $ResultFile -Value "$($run.PassedCount) $failed $skipped" }
exit ([int]($failed -gt 0 -or $run.Result -ne 'Passed'))
