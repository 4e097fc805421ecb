# Base builds (issue 11, must-show 5's last two goals): `New-SandboxImage -Suite bookworm -Force` with a
# warm package cache, and with an empty one, as root the warm one on the disk too (SANDBOX_BUILD_IN_MEMORY=0),
# against raw mmdebstrap (same suite, variant and mirror,
# mmdebstrap's own default behaviour: it downloads everything every time). The three are run in turn,
# the order rotated each round, so a machine shared with other work loads them alike; medians, ratios
# and the load average are printed. Each build takes about a minute on an idle 2-core machine, so a
# round is about 3 minutes (much longer when the machine is loaded).
# As root (the rootless case is the same with --mode=unshare on both sides):
#   bash bench/run.sh --builds          (or: pwsh -NoProfile -File bench/base-builds.ps1 -Rounds 3)
param(
    [int] $Rounds = 3,
    [string] $Suite = 'bookworm'
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$work = Join-Path ([IO.Path]::GetTempPath()) "sandbox-bench-builds-$([guid]::NewGuid().ToString('N'))"
$null = New-Item -ItemType Directory -Path $work
$previousHome = $env:SANDBOX_HOME
$env:SANDBOX_HOME = Join-Path $work 'store'
. (Join-Path $PSScriptRoot 'Assert-FreshBuild.ps1')
Import-Module (Join-Path $PSScriptRoot '../out/Sandbox/Sandbox.psd1')
$mmdebstrap = (Get-Command mmdebstrap -CommandType Application | Select-Object -First 1).Source
$rootless = (id -u) -ne '0'

$samples = @{ raw = [Collections.Generic.List[double]]::new(); cold = [Collections.Generic.List[double]]::new(); warm = [Collections.Generic.List[double]]::new(); disk = [Collections.Generic.List[double]]::new() }
$loads = [Collections.Generic.List[string]]::new()
$cacheLines = @{}

function Measure-Build([string] $Kind) {
    $raw = Join-Path $work 'raw'
    switch ($Kind) {
        'cold' { Remove-Item -Recurse -Force (Join-Path $env:SANDBOX_HOME 'cache') -ErrorAction SilentlyContinue }
        'raw' { Remove-Item -Recurse -Force $raw, "$raw.tar" -ErrorAction SilentlyContinue }
    }
    $watch = [Diagnostics.Stopwatch]::StartNew()
    if ($Kind -eq 'raw') {
        $target = if ($rootless) { "$raw.tar" } else { $raw }
        $mode = if ($rootless) { @('--mode=unshare') } else { @() }
        & $mmdebstrap --quiet --variant=minbase @mode $Suite $target
        if ($LASTEXITCODE -ne 0) { throw "raw mmdebstrap failed ($LASTEXITCODE)" }
    } else {
        # 'disk': a warm build kept on the disk (as root builds were before they wrote into memory).
        $env:SANDBOX_BUILD_IN_MEMORY = if ($Kind -eq 'disk') { '0' } else { $null }
        $verbose = New-SandboxImage -Name bench-base -Suite $Suite -Force -Verbose 4>&1 |
            Where-Object { $_ -is [Management.Automation.VerboseRecord] -and $_.Message -like 'Package cache:*' }
        $env:SANDBOX_BUILD_IN_MEMORY = $null
        $cacheLines[$Kind] = "$verbose"
    }
    $seconds = $watch.Elapsed.TotalSeconds
    $samples[$Kind].Add($seconds)
    $loads.Add((Get-Content /proc/loadavg).Split(' ')[0])
    Remove-Item -Recurse -Force $raw, "$raw.tar" -ErrorAction SilentlyContinue
    Write-Output ("  {0,-5} {1,7:F1} s   load {2}" -f $Kind, $seconds, $loads[-1])
}

function Get-Median([Collections.Generic.List[double]] $Values) {
    $sorted = @($Values | Sort-Object)
    $sorted[[int][Math]::Floor($sorted.Count / 2)]
}

try {
    Write-Output "Base builds: $Suite minbase, $Rounds rounds, as $(if ($rootless) { 'an unprivileged user (unshare)' } else { 'root' })"
    # The first cold build fills the cache, so 'warm' (and 'disk') never runs before a 'cold' in the same run.
    # 'disk' (root only: rootless builds never run in memory) is the warm build on the disk.
    $orders = @(@('raw', 'cold', 'warm', 'disk'), @('disk', 'warm', 'raw', 'cold'), @('cold', 'disk', 'raw', 'warm'))
    for ($round = 0; $round -lt $Rounds; $round++) {
        Write-Output "round $($round + 1)"
        foreach ($kind in $orders[$round % 3]) { if (-not ($rootless -and $kind -eq 'disk')) { Measure-Build $kind } }
    }
    $raw = Get-Median $samples.raw
    $cold = Get-Median $samples.cold
    $warm = Get-Median $samples.warm
    Write-Output ''
    Write-Output ("raw mmdebstrap --variant=minbase   median {0,7:F1} s" -f $raw)
    Write-Output ("New-SandboxImage -Force, cold      median {0,7:F1} s   {1:F2}x raw (goal <= 1.0x)" -f $cold, ($cold / $raw))
    Write-Output ("New-SandboxImage -Force, warm      median {0,7:F1} s   {1:F2}x raw (goal <= 0.6x)" -f $warm, ($warm / $raw))
    if ($samples.disk.Count -gt 0) {
        $disk = Get-Median $samples.disk
        Write-Output ("  the same on the disk              median {0,7:F1} s   {1:F2}x raw; in memory {2:F2}x of it" -f $disk, ($disk / $raw), ($warm / $disk))
    }
    Write-Output "cold: $($cacheLines['cold'])"
    Write-Output "warm: $($cacheLines['warm'])"
    Write-Output "load average (1 min) at each build: $($loads -join ', '); $([Environment]::ProcessorCount) cores"
} finally {
    Remove-SandboxImage -Name bench-base -Force -ErrorAction SilentlyContinue
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
    $env:SANDBOX_HOME = $previousHome
}
