# Invoke-SandboxCommand as a pwsh user calls it: words after the sandbox, pipeline input as stdin,
# -Check as a terminating error, -Stream with stderr on the error stream.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Busybox, Bubblewrap
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Cmdlets.Store.ps1')
    New-CmdletsTestStore
    $script:sb = Enter-Sandbox -Image pester-busybox -Provider Bubblewrap -Name pester-invoke
}

AfterAll { Remove-PesterStore }

Describe 'Invoke-SandboxCommand' -Skip:([bool]$script:skipReason) {
    Context 'the command''s words' {
        It 'takes the words after the sandbox, dashes included: uname -a' {
            $result = Invoke-SandboxCommand $script:sb uname -a
            $result.ExitCode | Should -Be 0
            $result.Command | Should -Be @('uname', '-a')
            $result.StdOut | Should -Match '^Linux '
        }

        It 'takes a program and a path: cat /etc/os-release' {
            (Invoke-SandboxCommand $script:sb cat /etc/os-release).StdOut | Should -Be "PRETTY_NAME=`"Busybox test image`"`n"
        }

        It 'keeps -Command arrays and a positional array working' {
            (Invoke-SandboxCommand -Sandbox $script:sb -Command sh, -c, 'echo named').StdOut | Should -Be "named`n"
            (Invoke-SandboxCommand $script:sb sh, -c, 'echo positional').StdOut | Should -Be "positional`n"
            (Invoke-SandboxCommand $script:sb -- sh -c 'echo after-dashes').StdOut | Should -Be "after-dashes`n"
        }

        It 'says to pass words or sh -c when one string with spaces names no program' {
            $caught = $null
            try { Invoke-SandboxCommand $script:sb 'uname -a' -ErrorAction Stop } catch { $caught = $_ }
            $caught.FullyQualifiedErrorId | Should -Be 'CommandNotFound,Sandbox.Commands.InvokeSandboxCommandCommand'
            $caught.Exception.Message | Should -Match 'one string'
            $caught.Exception.Message | Should -Match "sh,-c"
        }
    }

    Context 'pipeline input' {
        It 'feeds piped strings to the command''s stdin and runs it once' {
            $result = 'z', 'y' | Invoke-SandboxCommand $script:sb sort
            @($result).Count | Should -Be 1
            $result.StdOut | Should -Be "y`nz`n"
        }

        It 'still takes the sandbox from the pipeline' {
            ($script:sb | Invoke-SandboxCommand -Command echo, piped).StdOut | Should -Be "piped`n"
            ($script:sb | Invoke-SandboxCommand -Command cat -InputObject 'in').StdOut | Should -Be "in`n"
        }

        It 'runs once per piped sandbox' {
            $other = Enter-Sandbox -Image pester-busybox -Provider Bubblewrap -Name pester-invoke-2
            try {
                $results = $script:sb, $other | Invoke-SandboxCommand -Command hostname
                $results.Sandbox | Should -Be @('pester-invoke', 'pester-invoke-2')
            }
            finally { $other | Remove-Sandbox }
        }
    }

    Context '-Check' {
        It 'is a terminating error that try/catch catches, quoting the end of stderr' {
            $reached = $false
            $caught = $null
            try {
                Invoke-SandboxCommand $script:sb -Check -Command sh, -c, 'echo first >&2; echo why-it-failed >&2; exit 4'
                $reached = $true
            }
            catch { $caught = $_ }
            $reached | Should -BeFalse
            $caught.FullyQualifiedErrorId | Should -Be 'CommandFailed,Sandbox.Commands.InvokeSandboxCommandCommand'
            $caught.Exception.Message | Should -Match 'exited with code 4'
            $caught.Exception.Message | Should -Match 'why-it-failed'
            $caught.TargetObject.ExitCode | Should -Be 4
        }

        It 'bounds the stderr it quotes and neuters terminal escapes' {
            $caught = $null
            try { Invoke-SandboxCommand $script:sb -Check -Command sh, -c, 'i=0; while [ $i -lt 5000 ]; do echo "line $i"; i=$((i+1)); done >&2; printf "\033]0;pwned\007last\n" >&2; exit 1' }
            catch { $caught = $_ }
            $caught.Exception.Message | Should -Match 'line 4999'
            $caught.Exception.Message | Should -Not -Match 'line 100\b'
            $caught.Exception.Message.Length | Should -BeLessThan 3000
            $caught.Exception.Message | Should -Not -Match "`e"
        }

        It 'writes the result and no error when the command succeeds' {
            $result = Invoke-SandboxCommand $script:sb -Check -Command true
            $result.ExitCode | Should -Be 0
        }
    }

    Context '-Stream' {
        # As in an interactive session (Invoke-PesterSuite.ps1 runs with 'Stop'); the last test is about 'Stop'.
        BeforeAll { $script:previousPreference = $ErrorActionPreference; $ErrorActionPreference = 'Continue' }
        AfterAll { $ErrorActionPreference = $script:previousPreference }

        It 'writes stderr lines to the error stream, merged by 2>&1' {
            $all = Invoke-SandboxCommand $script:sb -Stream -Command sh, -c, 'echo out; echo err >&2' 2>&1
            $errors = @($all | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
            $text = @($all | Where-Object { $_ -is [string] })
            $text | Should -Be @('out')
            $errors.Count | Should -Be 1
            $errors[0].Exception.Message | Should -Be 'err'
            $errors[0].TargetObject | Should -Be 'err'
            $errors[0].FullyQualifiedErrorId | Should -BeLike 'NativeCommandError*'
        }

        It 'hides stderr lines with 2>$null' {
            $Error.Clear()
            $all = Invoke-SandboxCommand $script:sb -Stream -Command sh, -c, 'echo out; echo err >&2' 2>$null
            $all | Should -Be @('out')
        }

        It 'still makes a failing exit an error' {
            $all = Invoke-SandboxCommand $script:sb -Stream -Command sh, -c, 'echo out; exit 2' 2>&1
            $failure = @($all | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
            $failure.FullyQualifiedErrorId | Should -Be 'CommandFailed,Sandbox.Commands.InvokeSandboxCommandCommand'
        }

        It 'under $ErrorActionPreference Stop, a stderr line stops it as any cmdlet error does, unless -ErrorAction Continue' {
            $ErrorActionPreference = 'Stop'
            { Invoke-SandboxCommand $script:sb -Stream -Command sh, -c, 'echo warn >&2; echo after' } |
                Should -Throw -ErrorId 'NativeCommandError,Sandbox.Commands.InvokeSandboxCommandCommand'
            $all = Invoke-SandboxCommand $script:sb -Stream -ErrorAction Continue -Command sh, -c, 'echo warn >&2; echo after' 2>&1
            @($all | Where-Object { $_ -is [string] }) | Should -Be @('after')
        }

        It 'with -Check, a failing exit stops the script' {
            { Invoke-SandboxCommand $script:sb -Stream -Check -Command sh, -c, 'echo bad >&2; exit 2' 2>$null } |
                Should -Throw -ErrorId 'CommandFailed,Sandbox.Commands.InvokeSandboxCommandCommand'
        }
    }

    Context 'the sandbox object you hold' {
        It 'counts the commands run on it, as Get-SandboxStat does' {
            $fresh = Enter-Sandbox -Image pester-busybox -Provider Bubblewrap -Name pester-count
            try {
                1..3 | ForEach-Object { $null = Invoke-SandboxCommand $fresh true }
                (Get-SandboxStat $fresh).CommandsRun | Should -Be 3
                $fresh.CommandsRun | Should -Be 3
            }
            finally { $fresh | Remove-Sandbox }
        }
    }
}
