# What a sandbox plants must not reach the host through the cmdlets: a planted /etc/passwd for -User,
# binds of the store, an image or /proc/sys, a link on a bind's target, and setuid files copied out.
# Every sandbox and image made here lives in a store of its own and is removed in AfterAll.

BeforeDiscovery {
    $script:skipReason = $null
    if (-not $IsLinux) { $script:skipReason = 'Sandbox runs on Linux only.' }
    elseif (-not (Test-Path /bin/busybox)) { $script:skipReason = 'busybox-static is not installed (bash tools/setup.sh installs it).' }
    elseif (-not (Get-Command bwrap -ErrorAction SilentlyContinue)) { $script:skipReason = 'bubblewrap is not installed (bash tools/setup.sh installs it).' }
    if ($script:skipReason) { Write-Host "SKIPPED: HostilePaths.Tests.ps1: $script:skipReason" }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../out/Sandbox/Sandbox.psd1') -Force
    $script:store = Join-Path ([IO.Path]::GetTempPath()) "sandbox-pester-$([guid]::NewGuid().ToString('N'))"
    $script:previousHome = $env:SANDBOX_HOME
    $env:SANDBOX_HOME = $script:store

    $script:tree = Join-Path $script:store 'tree'
    . (Join-Path $PSScriptRoot 'BusyboxTree.ps1')
    New-BusyboxTree -Path $script:tree -Passwd 'root:x:0:0:root:/root:/bin/sh', 'tester:x:1000:1000::/root:/bin/sh'
    $null = New-SandboxImage -Name pester-hostile -Path $script:tree
    $script:out = Join-Path $script:store 'out'
    $null = New-Item -ItemType Directory -Path $script:out
}

AfterAll {
    Get-Sandbox -ErrorAction SilentlyContinue | Remove-Sandbox -Confirm:$false -ErrorAction SilentlyContinue
    Get-SandboxImage -ErrorAction SilentlyContinue | Remove-SandboxImage -Force -Confirm:$false -ErrorAction SilentlyContinue
    if ($script:store -and (Test-Path $script:store)) { Remove-Item -Recurse -Force $script:store }
    $env:SANDBOX_HOME = $script:previousHome
    Remove-Module Sandbox -ErrorAction SilentlyContinue
}

Describe 'Hostile paths' -Skip:([bool]$script:skipReason) {
    It 'refuses -User when the sandbox replaced /etc/passwd with a FIFO' {
        $sb = Enter-Sandbox -Image pester-hostile -Provider Bubblewrap
        (Invoke-SandboxCommand -Sandbox $sb -Command sh, -c, 'rm /etc/passwd && mkfifo /etc/passwd').ExitCode | Should -Be 0
        { Invoke-SandboxCommand -Sandbox $sb -Command id -User tester -ErrorAction Stop } |
            Should -Throw -ErrorId 'UnsafeSandboxFile,Sandbox.Commands.InvokeSandboxCommandCommand'
        $sb | Remove-Sandbox
    }

    It 'refuses to bind the store, an image or /proc/sys' {
        foreach ($bind in "$($script:store):/store", "$((Get-SandboxImage -Name pester-hostile).RootFs):/img", '/proc/sys:/proc/sys') {
            { Enter-Sandbox -Image pester-hostile -Bind $bind -ErrorAction Stop } |
                Should -Throw -ErrorId 'BindRefused,Sandbox.Commands.EnterSandboxCommand'
        }
    }

    It 'copies a setuid file out as a plain one' {
        $sb = Enter-Sandbox -Image pester-hostile -Provider Bubblewrap
        (Invoke-SandboxCommand -Sandbox $sb -Command sh, -c, 'echo x > /root/suid && chmod 4755 /root/suid').ExitCode | Should -Be 0
        $copied = Copy-SandboxItem -Sandbox $sb -Path /root/suid -Destination $script:out -FromSandbox -PassThru
        (Get-Item $copied.FullName).UnixFileMode.ToString() | Should -Not -Match 'SetUser'
        $sb | Remove-Sandbox
    }
}
