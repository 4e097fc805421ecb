# Process lifetime as a pwsh user meets it: a sandbox's processes are found by what they are, so
# Remove-Sandbox leaves a host `tail -f` of a sandbox file alone; -Network left out is the
# provider's default. Everything made here lives in a store of its own, removed in AfterAll.

BeforeDiscovery {
    $script:skipReason = $null
    if (-not $IsLinux) { $script:skipReason = 'Sandbox runs on Linux only.' }
    elseif ((id -u) -ne '0') { $script:skipReason = 'root Bubblewrap (merged/ mounted on the host) needs root; CI runs Pester as root.' }
    elseif (-not (Test-Path /bin/busybox)) { $script:skipReason = 'busybox-static is not installed (bash tools/setup.sh installs it).' }
    elseif (-not (Get-Command bwrap -ErrorAction SilentlyContinue)) { $script:skipReason = 'bubblewrap is not installed (bash tools/setup.sh installs it).' }
    if ($script:skipReason) { Write-Host "SKIPPED: ProcessLifetime.Tests.ps1: $script:skipReason" }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../out/Sandbox/Sandbox.psd1') -Force
    $script:store = Join-Path ([IO.Path]::GetTempPath()) "sandbox-pester-lifetime-$([guid]::NewGuid().ToString('N'))"
    $script:previousHome = $env:SANDBOX_HOME
    $env:SANDBOX_HOME = $script:store

    $tree = Join-Path $script:store 'tree'
    . (Join-Path $PSScriptRoot 'BusyboxTree.ps1')
    New-BusyboxTree -Path $tree
    $null = New-SandboxImage -Name lifetime -Path $tree
}

AfterAll {
    Get-Sandbox -ErrorAction SilentlyContinue | Remove-Sandbox -Confirm:$false -ErrorAction SilentlyContinue
    Get-SandboxImage -ErrorAction SilentlyContinue | Remove-SandboxImage -Force -Confirm:$false -ErrorAction SilentlyContinue
    if ($script:store -and (Test-Path $script:store)) { Remove-Item -Recurse -Force $script:store }
    $env:SANDBOX_HOME = $script:previousHome
    Remove-Module Sandbox -ErrorAction SilentlyContinue
}

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
