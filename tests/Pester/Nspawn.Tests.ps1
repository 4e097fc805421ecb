# Nspawn from pwsh: -Boot refuses an image without systemd at once and says what to include;
# concurrent commands of one sandbox all run; each command has a cgroup of its own.
# Every sandbox and image made here lives in a store of its own and is removed in AfterAll.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Root, Nspawn, Busybox -RootFor 'systemd-nspawn'
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $null = New-PesterStore -Tag nspawn
    $null = New-PesterBusyboxImage -Name pester-nspawn -Folder 'dev', 'proc', 'run', 'sys', 'usr/bin'
}

AfterAll { Remove-PesterStore }

Describe 'Nspawn provider' -Skip:([bool]$script:skipReason) {
    It 'refuses -Boot of an image without systemd, naming the packages to include' {
        { Enter-Sandbox -Image pester-nspawn -Provider Nspawn -Boot -ErrorAction Stop } |
            Should -Throw -ErrorId 'BootNeedsSystemd,Sandbox.Commands.EnterSandboxCommand' -ExpectedMessage '*-Include systemd-sysv,dbus*'
        Get-Sandbox | Where-Object Image -EQ pester-nspawn | Should -BeNullOrEmpty
    }

    It 'runs four commands of one sandbox at once' {
        $sb = Enter-Sandbox -Image pester-nspawn -Provider Nspawn
        $module = Join-Path (Get-Module Sandbox).ModuleBase 'Sandbox.psd1' # the manifest: Sandbox.psm1 alone lacks the cmdlets
        $jobs = 1..4 | ForEach-Object {
            Start-ThreadJob -ArgumentList $sb, $_, $module -ScriptBlock {
                param($sandbox, $n, $module)
                Import-Module $module
                Invoke-SandboxCommand -Sandbox $sandbox -Command sh, -c, "sleep 1; echo ok-$n"
            }
        }
        $results = $jobs | Receive-Job -Wait -AutoRemoveJob
        $results.Count | Should -Be 4
        ($results.StdOut | Sort-Object) -join '' | Should -Be "ok-1`nok-2`nok-3`nok-4`n"
        $results.ExitCode | Should -Not -Contain 1
        $sb | Remove-Sandbox
    }

    It 'gives each command a cgroup of its own, gone after the command' {
        $sb = Enter-Sandbox -Image pester-nspawn -Provider Nspawn
        $unified = if (Test-Path /sys/fs/cgroup/unified/cgroup.controllers) { '/sys/fs/cgroup/unified' } else { '/sys/fs/cgroup' }
        $name = "pester-made-inside-$([guid]::NewGuid().ToString('N'))"
        $r = Invoke-SandboxCommand -Sandbox $sb -Command sh, -c, "mkdir $unified/$name && cat /proc/self/cgroup"
        $r.ExitCode | Should -Be 0
        $r.StdOut | Should -Match '(?m)^0::/$'
        Get-ChildItem -Path $unified -Recurse -Directory -Filter $name -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $sb | Remove-Sandbox
        Test-Path (Join-Path $unified "sandbox.slice/sandbox-$($sb.Id)") | Should -BeFalse
    }
}
