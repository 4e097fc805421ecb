# Process lifetime as a pwsh user meets it: a sandbox's processes are found by what they are, so
# Remove-Sandbox leaves a host `tail -f` of a sandbox file alone; -Network left out is the
# provider's default. Everything made here lives in a store of its own, removed in AfterAll.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Root, Busybox, Bubblewrap -RootFor 'root Bubblewrap (merged/ mounted on the host)'
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:store = New-PesterStore -Tag lifetime
    $null = New-PesterBusyboxImage -Name lifetime
}

AfterAll { Remove-PesterStore }

Describe 'Sandbox process lifetime' -Skip:([bool]$script:skipReason) {
    It 'gives a Bubblewrap sandbox entered without -Network no network (the provider default)' {
        $sb = Enter-Sandbox -Image lifetime -Provider Bubblewrap
        $sb.Network | Should -Be 'None'
        (Invoke-SandboxCommand -Sandbox $sb -Command sh, -c, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '").StdOut.Trim() | Should -Be 'lo'
        $sb | Remove-Sandbox -Confirm:$false
    }

    It 'Remove-Sandbox leaves a host tail -f of a file in the sandbox running' {
        $sb = Enter-Sandbox -Image lifetime -Provider Bubblewrap
        (Invoke-SandboxCommand -Sandbox $sb -Command sh, -c, 'echo started > /root/app.log').ExitCode | Should -Be 0
        $log = Join-Path $script:store "sandboxes/$($sb.Id)/merged/root/app.log"
        $out = Join-Path $script:store 'tail.out'
        $tail = Start-Process -FilePath tail -ArgumentList '-f', $log -PassThru -RedirectStandardOutput $out
        try {
            # Wait until tail has the file open (it printed the line), however loaded the machine is.
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while (-not ((Test-Path $out) -and (Get-Content $out -Raw) -match 'started') -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
            Get-Content $out -Raw | Should -Match 'started'
            $sb | Remove-Sandbox -Confirm:$false
            # Old versions SIGKILLed it inside Remove-Sandbox: it would have exited already.
            $tail.WaitForExit(2000) | Should -BeFalse
            Get-Sandbox | Where-Object Id -EQ $sb.Id | Should -BeNullOrEmpty
        }
        finally {
            if (-not $tail.HasExited) { $tail.Kill() }
            $tail.WaitForExit()
        }
    }
}
