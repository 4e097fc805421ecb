# Import-Module reaps the orphaned sandboxes of dead sessions once per process and store, not in
# every runspace: ForEach-Object -Parallel imports the module in each of its runspaces, and a reap
# there (every sandbox listed, the trash swept, layers collected) cost each of them. A new process
# still reaps at its first import (Cmdlets.Lifetime.Tests.ps1); Remove-Sandbox -Stale at will.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Busybox, Bubblewrap
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Cmdlets.Store.ps1')
    New-CmdletsTestStore
    $script:manifest = Get-PesterModulePath
    $script:pwsh = (Get-Process -Id $PID).Path
}

AfterAll { Remove-PesterStore }

Describe 'Importing the module in more runspaces of one process' -Skip:([bool]$script:skipReason) {
    It 'leaves an orphan of a session that died since this process''s first import to Remove-Sandbox -Stale' {
        # This process's first import for this store (the store is new: nothing to reap).
        Import-Module $script:manifest -Force
        $idFile = Join-Path $script:store 'orphan.id'
        $session = Join-Path $script:store 'orphan-session.ps1'
        Set-Content -Path $session -Value @"
`$env:SANDBOX_HOME = '$($script:store)'
Import-Module '$($script:manifest)'
Set-Content -Path '$idFile' -Value (Enter-Sandbox -Image pester-busybox -Provider Bubblewrap -Name pester-orphan).Id
Stop-Process -Id `$PID -Force
"@
        & $script:pwsh -NoProfile -NonInteractive -File $session
        $id = (Get-Content $idFile -Raw).Trim()
        (Get-Sandbox -Id $id).Status | Should -Be 'Orphaned'

        $seen = 1..4 | ForEach-Object -ThrottleLimit 4 -Parallel {
            Import-Module $using:manifest
            (Get-Sandbox -Id $using:id).Status
        }

        $seen | Should -Be @('Orphaned', 'Orphaned', 'Orphaned', 'Orphaned')
        Remove-Sandbox -Stale -Confirm:$false
        Get-Sandbox -Id $id -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }
}
