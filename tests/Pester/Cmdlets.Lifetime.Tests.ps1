# A session's sandboxes go when the session goes, however it goes: its terminal closed (SIGHUP,
# in a real tmux), a kill -TERM, or a crash that the next Import-Module reaps and names.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Busybox, Bubblewrap, Tmux
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Cmdlets.Store.ps1')
    New-CmdletsTestStore
    $script:manifest = Get-PesterModulePath
    $script:pwsh = (Get-Process -Id $PID).Path

    # A script for another pwsh: import the module into this store, enter a sandbox named $name,
    # write its id to $idFile, then wait (or run $then).
    function New-SessionScript([string] $name, [string] $idFile, [string] $then = '') {
        $path = Join-Path $script:store "$name.ps1"
        Set-Content -Path $path -Value @"
`$env:SANDBOX_HOME = '$($script:store)'
Import-Module '$($script:manifest)'
`$sb = Enter-Sandbox -Image pester-busybox -Provider Bubblewrap -Name $name
Set-Content -Path '$idFile' -Value `$sb.Id
$then
"@
        $path
    }

    # Polls for a condition; robust on a loaded machine (generous deadline, no timing asserted).
    function Wait-Until([scriptblock] $condition, [int] $seconds = 120) {
        $deadline = [DateTime]::UtcNow.AddSeconds($seconds)
        while (-not (& $condition)) {
            if ([DateTime]::UtcNow -gt $deadline) { return $false }
            Start-Sleep -Milliseconds 200
        }
        $true
    }

    function Get-SessionId([string] $idFile) {
        if (-not (Wait-Until { (Test-Path $idFile) -and (Get-Content $idFile -Raw) })) { throw "the session never wrote $idFile" }
        (Get-Content $idFile -Raw).Trim()
    }
}

AfterAll { Remove-PesterStore }

Describe 'A session''s sandboxes' -Skip:([bool]$script:skipReason) {
    It 'are removed when the terminal of a real pwsh closes (tmux kill-session: SIGHUP)' {
        $tmux = "sandbox-pester-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
        $idFile = Join-Path $script:store 'hup.id'
        $script = New-SessionScript -name pester-hup -idFile $idFile
        try {
            & tmux new-session -d -s $tmux -x 120 -y 40 "exec '$($script:pwsh)' -NoProfile -NoExit -File '$script'"
            $id = Get-SessionId $idFile
            Test-Path (Join-Path $script:store "sandboxes/$id") | Should -BeTrue
            & tmux kill-session -t $tmux
            Wait-Until { -not (Test-Path (Join-Path $script:store "sandboxes/$id")) } | Should -BeTrue
        }
        finally { & tmux kill-session -t $tmux 2>$null }
    }

    It 'are removed when pwsh gets kill -TERM' {
        $idFile = Join-Path $script:store 'term.id'
        $script = New-SessionScript -name pester-term -idFile $idFile -then 'Start-Sleep -Seconds 600'
        $process = Start-Process -FilePath $script:pwsh -ArgumentList '-NoProfile', '-NonInteractive', '-File', $script -PassThru -RedirectStandardOutput (Join-Path $script:store 'term.out')
        try {
            $id = Get-SessionId $idFile
            & kill -TERM $process.Id
            Wait-Until { $process.HasExited } | Should -BeTrue
            Test-Path (Join-Path $script:store "sandboxes/$id") | Should -BeFalse
        }
        finally { if (-not $process.HasExited) { $process.Kill() } }
    }

    It 'of a killed session are reaped by the next Import-Module, which names them in a warning' {
        $idFile = Join-Path $script:store 'killed.id'
        $script = New-SessionScript -name pester-killed -idFile $idFile -then 'Stop-Process -Id $PID -Force'
        & $script:pwsh -NoProfile -NonInteractive -File $script
        $id = Get-SessionId $idFile
        (Get-Sandbox -Id $id).Status | Should -Be 'Orphaned'

        $warnings = & $script:pwsh -NoProfile -NonInteractive -Command "`$env:SANDBOX_HOME = '$($script:store)'; Import-Module '$($script:manifest)' -Verbose 3>&1 4>`$null | ForEach-Object { `"`$_`" }"
        ($warnings -join "`n") | Should -Match 'pester-killed'
        Test-Path (Join-Path $script:store "sandboxes/$id") | Should -BeFalse
    }
}
