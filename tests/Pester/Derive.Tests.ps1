# New-SandboxImage -From as a pwsh user meets it: a derive interrupted by Ctrl-C (a stopped pipeline)
# or by kill -9 of its pwsh leaves no image and, after the next reap, no sandbox; rootless (as the
# user sandbox-test, Bubblewrap) a step's every kind of change reaches a fresh sandbox of the derived
# image and the parent stays as it was; FakeChroot derives too (its layer's contents are checked in
# the xunit FakeChrootCommitTests, on a dynamically linked image: fakechroot cannot confine this test's
# static busybox). Root Bubblewrap and Nspawn, the chain and the cache are in the xunit DeriveStepTests.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Root, Busybox, Bubblewrap -RootFor 'killing another pwsh and switching to the test user'
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:modulePath = Get-PesterModulePath
    # The work folder is traversable by the test user; the stores inside are 0700 each.
    $script:store = New-PesterStore -Tag derive -TestUserCanEnter
    $script:run = Split-Path -Parent $script:store

    $script:tree = Join-Path $script:run 'tree'
    New-BusyboxTree -Path $script:tree -Folder 'data/nested', 'counter'
    Set-Content -Path (Join-Path $script:tree 'data/file.txt') -Value 'original'
    Set-Content -Path (Join-Path $script:tree 'data/delete-me.txt') -Value 'to be deleted'
    Set-Content -Path (Join-Path $script:tree 'data/nested/old.txt') -Value 'old'
    chmod -R a+rX $script:tree
    $null = New-SandboxImage -Name base -Path $script:tree

    # A host folder the step tells the test through: it touches 'started' when it runs.
    function script:New-SignalFolder {
        $folder = Join-Path $script:run "signal-$([guid]::NewGuid().ToString('N'))"
        $null = New-Item -ItemType Directory -Path $folder
        $folder
    }
    function script:Wait-File([string] $Path) {
        $deadline = [DateTime]::UtcNow.AddSeconds(120)
        while (-not (Test-Path $Path)) {
            if ([DateTime]::UtcNow -gt $deadline) { throw "$Path never appeared: the step did not start" }
            Start-Sleep -Milliseconds 100
        }
    }
    function script:Get-StagingLeft {
        $layers = Join-Path $script:store 'layers'
        if (Test-Path $layers) { @(Get-ChildItem -Force -Path $layers -Filter '.staging*') } else { @() }
    }
}

AfterAll { Remove-PesterStore }

Describe 'An interrupted New-SandboxImage -From' -Skip:([bool]$script:skipReason) {
    It 'Ctrl-C (the pipeline stopped) removes the step''s sandbox and publishes nothing' {
        $signal = New-SignalFolder
        $ps = [PowerShell]::Create()
        try {
            $null = $ps.AddScript({
                param($ModulePath, $Store, $Signal)
                $env:SANDBOX_HOME = $Store
                Import-Module $ModulePath
                New-SandboxImage -Name stopped -From base -Network None -Bind "${Signal}:/counter" -Run sh, -c, 'echo x > /data/x; touch /counter/started; sleep 600'
            }).AddArgument($script:modulePath).AddArgument($script:store).AddArgument($signal)
            $async = $ps.BeginInvoke()
            Wait-File (Join-Path $signal 'started')
            @(Get-Sandbox).Count | Should -Be 1 -Because 'the step runs in a sandbox of this process'
            $ps.Stop()
            { $ps.EndInvoke($async) } | Should -Throw
        }
        finally { $ps.Dispose() }
        Get-SandboxImage -Name stopped -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        Get-Sandbox | Should -BeNullOrEmpty
        Get-StagingLeft | Should -BeNullOrEmpty
    }

    It 'kill -9 of the owner pwsh mid-step leaves no image, and the next reap no sandbox' {
        $signal = New-SignalFolder
        $script = Join-Path $script:run 'killed-owner.ps1'
        Set-Content -Path $script -Value @'
param($ModulePath, $Store, $Signal)
$env:SANDBOX_HOME = $Store
Import-Module $ModulePath
New-SandboxImage -Name killed -From base -Network None -Bind "${Signal}:/counter" -Run sh, -c, 'echo x > /data/x; touch /counter/started; sleep 600'
'@
        $owner = Start-Process -FilePath pwsh -ArgumentList '-NoProfile', '-NonInteractive', '-File', $script, $script:modulePath, $script:store, $signal -PassThru
        try {
            Wait-File (Join-Path $signal 'started')
            kill -9 $owner.Id
            $owner.WaitForExit()
        }
        finally { if (-not $owner.HasExited) { kill -9 $owner.Id } }

        Get-SandboxImage -Name killed -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $orphans = @(Get-Sandbox)
        $orphans.Count | Should -Be 1
        $orphans[0].Status | Should -Be 'Orphaned'
        Remove-Sandbox -Stale -Confirm:$false
        Get-Sandbox | Should -BeNullOrEmpty
        Get-SandboxImage -Name killed -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        Get-StagingLeft | Should -BeNullOrEmpty
    }
}

Describe 'New-SandboxImage -From rootless, as the user sandbox-test' -Skip:([bool]$script:skipReason) {
    BeforeAll {
        $script:user = 'sandbox-test'
        id -u $script:user *> $null
        if ($LASTEXITCODE -ne 0) { useradd --create-home --shell /bin/sh --comment 'Sandbox module tests' $script:user }
        $script:userStore = Join-Path $script:run 'user-store'
        $null = New-Item -ItemType Directory -Path $script:userStore
        chown "$($script:user):" $script:userStore
        $script:userScript = Join-Path $script:run 'rootless.ps1'
        Set-Content -Path $script:userScript -Value @'
param($ModulePath, $Store, $Tree)
$ErrorActionPreference = 'Stop'
$env:SANDBOX_HOME = $Store
Import-Module $ModulePath
$base = New-SandboxImage -Name base -Path $Tree
$parentBefore = (tar -C $base.RootFs --sort=name --numeric-owner -cf - . | sha256sum)
$step = 'echo added > /data/added.txt && echo modified > /data/file.txt && rm /data/delete-me.txt && rm -rf /data/nested && mkdir /data/nested && echo fresh > /data/nested/fresh.txt && chown 1000:1000 /data/file.txt'
$derived = New-SandboxImage -Name changed -From base -Provider Bubblewrap -Network None -Run sh, -c, $step
$seen = Invoke-SandboxCommand -Image changed -Provider Bubblewrap -Command sh, -c, 'cat /data/added.txt /data/file.txt; test -e /data/delete-me.txt && echo delete-me-still-there; ls -A /data/nested; stat -c %u:%g /data/file.txt'
$parentAfter = (tar -C $base.RootFs --sort=name --numeric-owner -cf - . | sha256sum)
$fakeChroot = try { $fc = New-SandboxImage -Name fc -From base -Provider FakeChroot -Run true; "no error, parent $($fc.ParentId -eq $base.Id)" } catch { $_.FullyQualifiedErrorId + ' ' + $_.Exception.Message }
[pscustomobject]@{
    Seen = $seen.StdOut; ParentId = $derived.ParentId; BaseId = $base.Id; ParentUnchanged = ($parentBefore -eq $parentAfter)
    FakeChroot = $fakeChroot; Sandboxes = @(Get-Sandbox).Count
} | ConvertTo-Json -Compress
'@
        chmod 644 $script:userScript
        $script:output = runuser -u $script:user -- env "HOME=/home/$($script:user)" pwsh -NoProfile -NonInteractive -File $script:userScript $script:modulePath $script:userStore $script:tree
        $script:exit = $LASTEXITCODE
        $script:result = if ($script:exit -eq 0) { ($script:output | Select-Object -Last 1) | ConvertFrom-Json }
    }

    It 'sees the step''s added, modified, deleted, replaced and chowned files in a fresh sandbox of the derived image' {
        $script:exit | Should -Be 0 -Because ($script:output -join "`n")
        $script:result.Seen | Should -Be "added`nmodified`nfresh.txt`n1000:1000`n"
        $script:result.ParentId | Should -Be $script:result.BaseId
        $script:result.Sandboxes | Should -Be 0
    }

    It 'leaves the parent image byte-identical' {
        $script:result.ParentUnchanged | Should -BeTrue
    }

    It 'derives with -Provider FakeChroot as well, on the same parent' {
        $script:result.FakeChroot | Should -Be 'no error, parent True'
    }
}
