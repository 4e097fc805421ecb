# The scenario derived images are for, written as a user writes it: BeforeAll derives 'app' from a
# bookworm image by installing jq (with the host's network, the derive default), once; each test
# then runs in a fresh sandbox of 'app', which starts from that state instead of re-provisioning.
# The bookworm image is built once for this file in a store of its own (never kept across runs).

BeforeDiscovery {
    $script:skipReason = $null
    if (-not $IsLinux) { $script:skipReason = 'Sandbox runs on Linux only.' }
    elseif ((id -u) -ne '0') { $script:skipReason = 'building the bookworm image as root needs root (CI runs as root).' }
    elseif (-not (Get-Command bwrap -ErrorAction SilentlyContinue)) { $script:skipReason = 'bubblewrap is not installed (bash tools/setup.sh installs it).' }
    elseif (-not (Get-Command mmdebstrap -ErrorAction SilentlyContinue) -and -not (Get-Command debootstrap -ErrorAction SilentlyContinue)) {
        $script:skipReason = 'neither mmdebstrap nor debootstrap is installed (bash tools/setup.sh installs them).'
    }
    if ($script:skipReason) { Write-Host "SKIPPED: DeriveScenario.Tests.ps1: $script:skipReason" }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../out/Sandbox/Sandbox.psd1') -Force
    $script:store = Join-Path ([IO.Path]::GetTempPath()) "sandbox-pester-scenario-$([guid]::NewGuid().ToString('N'))"
    $script:previousHome = $env:SANDBOX_HOME
    $env:SANDBOX_HOME = $script:store

    $null = New-SandboxImage -Name bookworm -Suite bookworm -Variant minbase
    # What a suite's BeforeAll does: provision once; the next run of the same line is a cache hit.
    $script:app = New-SandboxImage -Name app -From bookworm -Network Host -Run sh, -c, 'apt-get update && apt-get install -y --no-install-recommends jq'
    $script:again = New-SandboxImage -Name app -From bookworm -Network Host -Run sh, -c, 'apt-get update && apt-get install -y --no-install-recommends jq'
}

AfterAll {
    Get-Sandbox -ErrorAction SilentlyContinue | Remove-Sandbox -Confirm:$false -ErrorAction SilentlyContinue
    Get-SandboxImage -ErrorAction SilentlyContinue | Remove-SandboxImage -Force -Confirm:$false -ErrorAction SilentlyContinue
    $env:SANDBOX_HOME = $script:previousHome
    Remove-Module Sandbox -ErrorAction SilentlyContinue
    if ($script:store -and (Test-Path $script:store)) { rm -rf --one-file-system -- $script:store }
}

Describe 'Tests in fresh sandboxes of a derived image' -Skip:([bool]$script:skipReason) {
    It 'derived app once: it is bookworm plus its own layer, and the same derive again returned it' {
        $script:app.Parent | Should -Be 'bookworm'
        $script:app.LayerSize | Should -BeLessThan ((Get-SandboxImage -Name bookworm).TotalSize)
        $script:again.Id | Should -Be $script:app.Id
        $script:again.Created | Should -Be $script:app.Created
    }

    It 'test <_> runs jq in a fresh sandbox of app, and leaves nothing for the next' -ForEach (1..10) {
        $sandbox = Enter-Sandbox -Image app -Provider Bubblewrap
        try {
            $version = Invoke-SandboxCommand -Sandbox $sandbox -Command jq, --version -Check
            $version.StdOut | Should -Match '^jq-1\.'
            # Whatever one test writes is gone for the next: each starts from app as published.
            (Invoke-SandboxCommand -Sandbox $sandbox -Command sh, -c, 'test -e /root/previous-test && echo dirty; touch /root/previous-test').StdOut | Should -BeNullOrEmpty
        }
        finally { $sandbox | Remove-Sandbox -Confirm:$false }
    }
}
