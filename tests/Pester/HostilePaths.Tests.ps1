# What a sandbox plants must not reach the host through the cmdlets: a planted /etc/passwd for -User,
# binds of the store, an image or /proc/sys, a link on a bind's target, and setuid files copied out.
# Every sandbox and image made here lives in a store of its own and is removed in AfterAll.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Busybox, Bubblewrap
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:store = New-PesterStore -Tag hostile
    $null = New-PesterBusyboxImage -Name pester-hostile -Passwd 'root:x:0:0:root:/root:/bin/sh', 'tester:x:1000:1000::/root:/bin/sh'
    $script:out = Join-Path $script:store 'out'
    $null = New-Item -ItemType Directory -Path $script:out
}

AfterAll { Remove-PesterStore }

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
