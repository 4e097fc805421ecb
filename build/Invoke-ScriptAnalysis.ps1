#!/usr/bin/env pwsh
# Lints the project's PowerShell with PSScriptAnalyzer: the built module manifest (out/Sandbox, the
# file that ships; the repository's Sandbox.psd1 is its template and names files only the build
# lays out) and build.ps1 with every default rule, tests/Pester with build/ScriptAnalyzer.Tests.psd1
# (the default rules less those it names, each with its reason), bench/*.ps1 if any.
# Prints each finding and exits 1 when there is any; tools/test.sh runs it in CI.
[CmdletBinding()]
param()
$ErrorActionPreference = 'Stop'
$root = Split-Path -Parent $PSScriptRoot
Import-Module PSScriptAnalyzer -MinimumVersion 1.21.0

$manifest = Join-Path $root 'out/Sandbox/Sandbox.psd1'
if (-not (Test-Path $manifest)) { throw "Build first (dotnet build Sandbox.sln -c Release): $manifest is missing." }
$targets = @(
    @{ Path = $manifest }
    @{ Path = Join-Path $root 'build.ps1' }
    @{ Path = $PSCommandPath }
    @{ Path = Join-Path $root 'tests/Pester'; Recurse = $true; Settings = Join-Path $PSScriptRoot 'ScriptAnalyzer.Tests.psd1' }
)
foreach ($script in Get-ChildItem (Join-Path $root 'bench') -Filter '*.ps1' -Recurse -ErrorAction Ignore) { $targets += @{ Path = $script.FullName } }

$findings = @(foreach ($target in $targets) { Invoke-ScriptAnalyzer @target })
foreach ($finding in $findings) {
    '{0}:{1}: {2} {3}: {4}' -f $finding.ScriptPath, $finding.Line, $finding.Severity, $finding.RuleName, $finding.Message
}
'PSScriptAnalyzer: {0} finding(s) in {1}' -f $findings.Count, (($targets | ForEach-Object { [IO.Path]::GetRelativePath($root, $_.Path) }) -join ', ')
exit ([int]($findings.Count -gt 0))
