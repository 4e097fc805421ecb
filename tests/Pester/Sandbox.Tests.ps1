# The module as a pwsh user meets it: real cmdlets, real bwrap, objects on the pipeline.
# Every sandbox and image made here lives in a store of its own and is removed in AfterAll.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Busybox, Bubblewrap
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:store = New-PesterStore -Tag module

    # A tiny busybox root filesystem to import.
    $script:tree = Join-Path (Split-Path -Parent $script:store) 'tree'
    New-BusyboxTree -Path $script:tree -Folder 'data'
    Set-Content -Path (Join-Path $script:tree 'data/file.txt') -Value 'original'
}

AfterAll { Remove-PesterStore }

Describe 'Sandbox module' -Skip:([bool]$script:skipReason) {
    Context 'Providers and images' {
        It 'lists the Bubblewrap provider as available' {
            $provider = Get-SandboxProvider -Name Bubblewrap
            $provider.Available | Should -BeTrue
            $provider.PSObject.TypeNames[0] | Should -Be 'Sandbox.SandboxProviderInfo'
        }

        It 'imports a folder as an image and returns the cached image the second time' {
            $first = New-SandboxImage -Name pester-busybox -Path $script:tree
            $first.Name | Should -Be 'pester-busybox'
            $first.Source | Should -Be 'import'
            $second = New-SandboxImage -Name pester-busybox -Path $script:tree
            $second.Created | Should -Be $first.Created
            (Get-SandboxImage -Name 'pester-*').Name | Should -Contain 'pester-busybox'
        }

        It 'reports a missing image with its error id' {
            { Get-SandboxImage -Name no-such-image -ErrorAction Stop } |
                Should -Throw -ErrorId 'ImageNotFound,Sandbox.Commands.GetSandboxImageCommand'
        }
    }

    Context 'A sandbox' {
        BeforeAll {
            $null = New-SandboxImage -Name pester-busybox -Path $script:tree
            $script:sandbox = Enter-Sandbox -Image pester-busybox -Provider Bubblewrap -Name pester-one -Environment @{ GREETING = 'hi' }
        }
        AfterAll {
            Get-Sandbox -Name pester-one -ErrorAction SilentlyContinue | Remove-Sandbox -Confirm:$false
        }

        It 'is listed by Get-Sandbox' {
            $found = Get-Sandbox -Name pester-one
            $found.Id | Should -Be $script:sandbox.Id
            $found.Status | Should -Be 'Ready'
            $found.PSObject.TypeNames[0] | Should -Be 'Sandbox.SandboxInfo'
        }

        It 'returns exit code and separate output streams' {
            $result = Invoke-SandboxCommand -Sandbox $script:sandbox -Command 'sh', '-c', 'echo out; echo err >&2; exit 3'
            $result.ExitCode | Should -Be 3
            $result.StdOut | Should -Be "out`n"
            $result.StdErr | Should -Be "err`n"
        }

        It 'takes the sandbox from the pipeline and by name' {
            ($script:sandbox | Invoke-SandboxCommand -Command 'sh', '-c', 'echo $GREETING').StdOut | Should -Be "hi`n"
            (Invoke-SandboxCommand -Sandbox pester-one -Command 'true').ExitCode | Should -Be 0
        }

        It 'sends -InputObject to stdin' {
            $result = Invoke-SandboxCommand -Sandbox $script:sandbox -Command 'cat' -InputObject 'one', 'two'
            $result.StdOut | Should -Be "one`ntwo`n"
        }

        It 'streams stdout lines with -Stream' {
            $lines = Invoke-SandboxCommand -Sandbox $script:sandbox -Command 'sh', '-c', 'echo a; echo b' -Stream
            $lines | Should -Be @('a', 'b')
        }

        It 'turns a non-zero exit into an error with -Check' {
            { Invoke-SandboxCommand -Sandbox $script:sandbox -Command 'false' -Check -ErrorAction Stop } |
                Should -Throw -ErrorId 'CommandFailed,Sandbox.Commands.InvokeSandboxCommandCommand'
        }

        It 'tells a missing command apart from a failing one' {
            { Invoke-SandboxCommand -Sandbox $script:sandbox -Command 'no-such-program' -ErrorAction Stop } |
                Should -Throw -ErrorId 'CommandNotFound,Sandbox.Commands.InvokeSandboxCommandCommand'
        }

        It 'kills a command at its timeout' {
            $result = Invoke-SandboxCommand -Sandbox $script:sandbox -Command 'sleep', '600' -TimeoutSec 1
            $result.TimedOut | Should -BeTrue
            $result.Signal | Should -Be 'SIGKILL'
        }

        It 'keeps writes between commands and counts them in Get-SandboxStat' {
            Invoke-SandboxCommand -Sandbox $script:sandbox -Command 'sh', '-c', 'echo changed > /data/file.txt' | Out-Null
            (Invoke-SandboxCommand -Sandbox $script:sandbox -Command 'cat', '/data/file.txt').StdOut | Should -Be "changed`n"
            Get-Content (Join-Path (Get-SandboxImage -Name pester-busybox).RootFs 'data/file.txt') | Should -Be 'original'
            $stat = Get-SandboxStat -Sandbox $script:sandbox
            $stat.CommandsRun | Should -BeGreaterOrEqual 2
            $stat.FilesModified | Should -BeGreaterOrEqual 1
            (Get-SandboxStat -Sandbox $script:sandbox -Changes).Path | Should -Contain '/data/file.txt'
        }

        It 'copies files in and out with Copy-SandboxItem' {
            $source = Join-Path $script:store 'to-copy.txt'
            Set-Content -Path $source -Value 'copied in'
            Copy-SandboxItem -Sandbox $script:sandbox -Path $source -Destination /root/inbox
            (Invoke-SandboxCommand -Sandbox $script:sandbox -Command 'cat', '/root/inbox/to-copy.txt').StdOut | Should -Be "copied in`n"
            $outFolder = Join-Path $script:store 'out'
            $null = New-Item -ItemType Directory -Path $outFolder -Force
            $copied = Copy-SandboxItem -Sandbox $script:sandbox -Path /root/inbox/to-copy.txt -Destination $outFolder -FromSandbox -PassThru
            $copied | Should -BeOfType [System.IO.FileInfo]
            Get-Content $copied.FullName | Should -Be 'copied in'
        }

        It 'has help with examples' {
            $help = Get-Help Invoke-SandboxCommand -Full
            $help.Synopsis | Should -Match 'Runs a command'
            @($help.Examples.Example).Count | Should -BeGreaterThan 0
        }

        It 'formats as a table' {
            ($script:sandbox | Format-Table | Out-String) | Should -Match 'pester-one'
        }
    }

    Context 'Removal and bad input' {
        It 'honours -WhatIf and then removes the sandbox and its folder' {
            $sandbox = Enter-Sandbox -Image pester-busybox -Name pester-two
            $sandbox | Remove-Sandbox -WhatIf
            Get-Sandbox -Name pester-two | Should -Not -BeNullOrEmpty
            $sandbox | Remove-Sandbox
            Get-Sandbox -Name pester-two -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            Test-Path (Join-Path $script:store "sandboxes/$($sandbox.Id)") | Should -BeFalse
        }

        It 'runs a one-shot command from an image and leaves no sandbox' {
            $before = @(Get-Sandbox).Count
            (Invoke-SandboxCommand -Image pester-busybox -Command 'echo', 'once').StdOut | Should -Be "once`n"
            @(Get-Sandbox).Count | Should -Be $before
        }

        It 'refuses a name with ../ and names the fix' {
            { Enter-Sandbox -Image '../etc' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidName,Sandbox.Commands.EnterSandboxCommand'
        }

        It 'refuses a relative bind source' {
            { Enter-Sandbox -Image pester-busybox -Bind 'relative/path:/mnt' -ErrorAction Stop } |
                Should -Throw -ErrorId 'InvalidBind,Sandbox.Commands.EnterSandboxCommand'
        }

        It 'exports an image and imports it back' {
            $tarball = Join-Path $script:store 'exported.tar.gz'
            $file = Export-SandboxImage -Name pester-busybox -Path $tarball
            $file.Length | Should -BeGreaterThan 0
            $again = New-SandboxImage -Name pester-reimported -Path $tarball
            (Invoke-SandboxCommand -Image $again -Command 'cat', '/data/file.txt').StdOut | Should -Be "original`n"
            Remove-SandboxImage -Name pester-reimported
        }

        It 'refuses to remove an image in use unless -Force' {
            $sandbox = Enter-Sandbox -Image pester-busybox
            { Remove-SandboxImage -Name pester-busybox -ErrorAction Stop } |
                Should -Throw -ErrorId 'ImageInUse,Sandbox.Commands.RemoveSandboxImageCommand'
            $sandbox | Remove-Sandbox
        }
    }
}
