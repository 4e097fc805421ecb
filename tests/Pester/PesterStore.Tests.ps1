# The Pester files' own helper (PesterStore.ps1): the skip reason names the first missing need, a
# file's store goes with everything in it (mounts included) and SANDBOX_HOME comes back, and a shared
# image is built once per cache and copied into each store, so one file's leftovers never reach
# another's. The cache here is a folder of this file's, never the suite run's own.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Root, Busybox, Bubblewrap -RootFor 'mounting a leftover in a work folder'
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    # Mount points below a folder, as this process's mount namespace (the host's) sees them.
    function script:Get-MountBelow([string] $Folder) { Get-MountPoint | Where-Object { $_.StartsWith("$Folder/", [StringComparison]::Ordinal) } }
    # Shared images' recipes that count their builds: a busybox tree imported under the given name.
    $script:builds = 0
    $script:countingBuild = { param($key) $script:builds++; New-PesterBusyboxImage -Name $key }
    $script:otherBuild = { param($key) $script:builds++; New-PesterBusyboxImage -Name $key -Folder 'other' }
    $script:previousCache = $env:SANDBOX_PESTER_CACHE
    $script:previousHome = $env:SANDBOX_HOME
}

AfterAll {
    Remove-PesterStore
    $env:SANDBOX_PESTER_CACHE = $script:previousCache
    $env:SANDBOX_HOME = $script:previousHome
}

Describe 'PesterStore.ps1' -Skip:([bool]$script:skipReason) {
    AfterEach {
        # Whatever a failed test left: its store and its cache folder.
        Remove-PesterStore
        if ($script:cache) { Remove-PesterFolder $script:cache; $script:cache = $null }
        $env:SANDBOX_PESTER_CACHE = $script:previousCache
    }

    It 'names the first missing need as the skip reason and says so, and gives $null when all are met' {
        $path = $env:PATH
        try {
            $env:PATH = '/nonexistent'
            $reason = Get-PesterSkipReason -File '/somewhere/Some.Tests.ps1' -Need Busybox, Bubblewrap, Strace -InformationVariable shown 6>$null
        }
        finally { $env:PATH = $path }
        $reason | Should -Be 'bubblewrap is not installed (bash tools/setup.sh installs it).'
        "$shown" | Should -Be "SKIPPED: Some.Tests.ps1: $reason"
        Get-PesterSkipReason -File '/somewhere/Some.Tests.ps1' -Need Root, Busybox, Bubblewrap -InformationVariable none 6>$null | Should -BeNullOrEmpty
        $none | Should -BeNullOrEmpty
    }

    It 'Remove-PesterStore removes the sandboxes, the images, a mount left in the work folder and the folder, and restores SANDBOX_HOME' {
        $before = $env:SANDBOX_HOME
        $store = New-PesterStore -Tag selftest
        $run = Split-Path -Parent $store
        $env:SANDBOX_HOME | Should -Be $store
        $null = New-PesterBusyboxImage -Name selftest
        $null = Enter-Sandbox -Image selftest -Provider Bubblewrap
        $left = Join-Path $run 'left-mounted'
        $null = New-Item -ItemType Directory -Path $left
        mount -t tmpfs pester-selftest $left
        $LASTEXITCODE | Should -Be 0

        Remove-PesterStore
        Test-Path $run | Should -BeFalse
        Get-MountBelow $run | Should -BeNullOrEmpty
        $env:SANDBOX_HOME | Should -Be $before
        Get-Module Sandbox | Should -BeNullOrEmpty
    }

    It 'Get-SharedImage builds a recipe once per cache, another recipe apart, and each store gets a tree of its own' {
        $script:cache = Join-Path ([IO.Path]::GetTempPath()) "sandbox-pester-selftest-cache-$([guid]::NewGuid().ToString('N'))"
        $null = New-Item -ItemType Directory -Path $script:cache
        $env:SANDBOX_PESTER_CACHE = $script:cache
        $script:builds = 0

        $null = New-PesterStore -Tag selftest-first
        $first = Get-SharedImage -Name mine -Build $script:countingBuild
        # The first file's leftover in its own copy of the tree.
        Set-Content -Path (Join-Path $first.RootFs 'etc/leftover') -Value 'first'
        Remove-PesterStore

        $null = New-PesterStore -Tag selftest-second
        $second = Get-SharedImage -Name mine -Build $script:countingBuild
        $script:builds | Should -Be 1
        $second.RootFs | Should -Not -Be $first.RootFs
        $second.RootFs | Should -BeLike "$env:SANDBOX_HOME/*"
        (Invoke-SandboxCommand -Image mine -Provider Bubblewrap -Command sh, -c, 'test -e /etc/leftover && echo leftover; cat /etc/passwd').StdOut |
            Should -Be "root:x:0:0:root:/root:/bin/sh`n"
        # Another recipe is another image, even in the same cache.
        $other = Get-SharedImage -Name other -Build $script:otherBuild
        $script:builds | Should -Be 2
        Test-Path (Join-Path $other.RootFs 'other') | Should -BeTrue
    }

    It 'Get-SharedImage without SANDBOX_PESTER_CACHE builds in the file''s work folder, gone with it; a named cache that is no folder is refused' {
        $env:SANDBOX_PESTER_CACHE = $null
        $script:builds = 0
        $run = Split-Path -Parent (New-PesterStore -Tag selftest-alone)
        $null = Get-SharedImage -Name mine -Build $script:countingBuild
        $script:builds | Should -Be 1
        Test-Path (Join-Path $run 'image-cache/store') | Should -BeTrue

        $env:SANDBOX_PESTER_CACHE = Join-Path $run 'no-such-cache'
        { Get-SharedImage -Name other -Build $script:countingBuild } | Should -Throw '*is not a folder*'
        $script:builds | Should -Be 1
        Remove-PesterStore
        Test-Path $run | Should -BeFalse
    }
}
