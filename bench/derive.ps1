# The derived-image part of the bench, in the real pwsh, in one run over a store of its own:
#   1. derive cache hit: the same New-SandboxImage -From -Run again (goal < 50 ms);
#   2. Enter + Invoke /bin/true + Remove on a derived image against the same on its parent (goal <= 1.2x);
#   3. disk of a derived image: its own layer against what the step wrote and the store's growth (goal: only its layer);
#   4. the 10-test scenario: derive 'app' (bookworm + jq) once, then 10 tests in fresh sandboxes of it,
#      against 10 tests that each provision bookworm + jq themselves (goal >= 10x faster). Needs the
#      Debian mirror; -SkipScenario leaves it out.
# Run by bench/run.sh (as root) after the module is built into out/Sandbox:
#   pwsh -NoProfile -File bench/derive.ps1 [-Runs N] [-SkipScenario | -ScenarioOnly]
param(
    [int] $Runs = 30,
    [switch] $SkipScenario,
    [switch] $ScenarioOnly
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$work = Join-Path ([IO.Path]::GetTempPath()) "sandbox-bench-derive-$([guid]::NewGuid().ToString('N'))"
$previousHome = $env:SANDBOX_HOME
$env:SANDBOX_HOME = Join-Path $work 'store'
. (Join-Path $PSScriptRoot 'Assert-FreshBuild.ps1')
Import-Module (Join-Path $PSScriptRoot '../out/Sandbox/Sandbox.psd1')
. (Join-Path $PSScriptRoot '../tests/Pester/BusyboxTree.ps1')

function Measure-Median {
    # A few untimed warm-up runs, then $Count timed ones; the median in ms.
    param([scriptblock] $Once, [int] $Count = $Runs, [int] $WarmUp = 3)
    for ($i = 0; $i -lt [Math]::Min($WarmUp, $Count); $i++) { $null = & $Once }
    $samples = [Collections.Generic.List[double]]::new()
    for ($i = 0; $i -lt $Count; $i++) {
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $null = & $Once
        $samples.Add($watch.Elapsed.TotalMilliseconds)
    }
    $samples.Sort()
    $samples[[int][Math]::Floor($samples.Count / 2)]
}

function Get-ApparentSize([string] $Path) { [long]((du -sB1 --apparent-size -- $Path) -split '\s+')[0] }
function Get-DiskUsage([string] $Path) { [long]((du -sB1 -- $Path) -split '\s+')[0] }

try {
    if (-not $ScenarioOnly) {
    $tree = Join-Path $work 'tree'
    New-BusyboxTree -Path $tree -Folder 'data'
    $null = New-SandboxImage -Name base -Path $tree
    # A step that writes 4 MiB of its own beside the 2 MiB parent.
    $step = 'sh', '-c', 'dd if=/dev/urandom of=/data/blob bs=1M count=4 2>/dev/null && echo configured > /etc/app.conf'

    $storeBefore = Get-DiskUsage $env:SANDBOX_HOME
    $derived = New-SandboxImage -Name derived -From base -Network None -Provider Bubblewrap -Run $step
    # The step's sandbox (its upper layer holds the 4 MiB too) is deleted from trash/ in the background
    # after the derive returns: measured at once, the store counted it twice (8.1 MiB on 2026-11-25).
    $trash = Join-Path $env:SANDBOX_HOME 'trash'
    for ($wait = 0; $wait -lt 600 -and (Test-Path $trash) -and @(Get-ChildItem -Force -LiteralPath $trash).Count -gt 0; $wait++) { Start-Sleep -Milliseconds 50 }
    $storeGrowth = (Get-DiskUsage $env:SANDBOX_HOME) - $storeBefore

    $hit = Measure-Median { New-SandboxImage -Name derived -From base -Network None -Provider Bubblewrap -Run $step }
    $onParent = Measure-Median { $sb = Enter-Sandbox -Image base -Provider Bubblewrap; $null = Invoke-SandboxCommand $sb /bin/true; $sb | Remove-Sandbox }
    $onDerived = Measure-Median { $sb = Enter-Sandbox -Image derived -Provider Bubblewrap; $null = Invoke-SandboxCommand $sb /bin/true; $sb | Remove-Sandbox }
    $parent = Get-SandboxImage -Name base

    Write-Output ''
    Write-Output "Derived images ($Runs runs each, medians; store $env:SANDBOX_HOME)"
    Write-Output ('  derive cache hit (same -From -Run again)        {0,8:N1} ms   goal < 50 ms' -f $hit)
    Write-Output ('  Enter+Invoke /bin/true+Remove, parent image     {0,8:N1} ms' -f $onParent)
    Write-Output ('  Enter+Invoke /bin/true+Remove, derived image    {0,8:N1} ms   {1:N2}x the parent (goal <= 1.2x)' -f $onDerived, ($onDerived / $onParent))
    Write-Output ('  derived image: own layer {0:N1} MiB, parent {1:N1} MiB, total {2:N1} MiB; the store grew {3:N1} MiB (goal: only its layer, about 4 MiB)' -f `
        ($derived.LayerSize / 1MB), ($parent.TotalSize / 1MB), ($derived.TotalSize / 1MB), ($storeGrowth / 1MB))
    }

    if (-not $SkipScenario) {
        $null = New-SandboxImage -Name bookworm -Suite bookworm -Variant minbase
        $provisionStep = 'sh', '-c', 'apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends jq >/dev/null'
        $test = { param($Image, [switch] $Provision)
            $sb = Enter-Sandbox -Image $Image -Provider Bubblewrap -Network Host
            try {
                if ($Provision) { $null = Invoke-SandboxCommand $sb -Command $provisionStep -Check }
                $null = Invoke-SandboxCommand $sb jq --version -Check
            }
            finally { $sb | Remove-Sandbox }
        }
        $watch = [Diagnostics.Stopwatch]::StartNew()
        for ($i = 0; $i -lt 10; $i++) { & $test bookworm -Provision }
        $perTest = $watch.Elapsed.TotalSeconds
        $watch.Restart()
        $null = New-SandboxImage -Name app -From bookworm -Network Host -Run $provisionStep
        for ($i = 0; $i -lt 10; $i++) { & $test app }
        $derivedOnce = $watch.Elapsed.TotalSeconds
        $watch.Restart()
        $null = New-SandboxImage -Name app -From bookworm -Network Host -Run $provisionStep   # the next run of the suite: a cache hit
        for ($i = 0; $i -lt 10; $i++) { & $test app }
        $cached = $watch.Elapsed.TotalSeconds
        Write-Output ('  10 tests, each provisioning bookworm + jq       {0,8:N1} s' -f $perTest)
        Write-Output ('  derive app once + 10 tests in fresh sandboxes  {0,8:N1} s   {1:N1}x faster (goal >= 10x)' -f $derivedOnce, ($perTest / $derivedOnce))
        Write-Output ('  the same with app cached (the suite''s next run) {0,8:N1} s   {1:N1}x faster' -f $cached, ($perTest / $cached))
    }
}
finally {
    Get-Sandbox -ErrorAction SilentlyContinue | Remove-Sandbox -ErrorAction SilentlyContinue
    $env:SANDBOX_HOME = $previousHome
    if (Test-Path $work) { rm -rf --one-file-system -- $work }
}
