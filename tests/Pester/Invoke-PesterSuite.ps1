#!/usr/bin/env pwsh
# Runs the Pester suite against the built module (out/Sandbox). Says plainly when it cannot run.
$ErrorActionPreference = 'Stop'
$pester = Get-Module -ListAvailable -Name Pester | Where-Object Version -ge '5.0.0' | Sort-Object Version -Descending | Select-Object -First 1
if (-not $pester) {
    Write-Host 'SKIPPED: the Pester suite, because Pester 5 is not installed (Install-Module Pester -MinimumVersion 5).'
    exit 0
}
Import-Module $pester
$configuration = New-PesterConfiguration
$configuration.Run.Path = $PSScriptRoot
$configuration.Run.Exit = $true
$configuration.Output.Verbosity = 'Detailed'
Invoke-Pester -Configuration $configuration
