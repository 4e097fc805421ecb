# Invoke-SandboxCommand -Trace through the cmdlet in a real pwsh: both parameter sets, the result's
# one-line summary in its default view, and the views printing a hostile path without its terminal
# escapes. Every sandbox and image made here lives in a store of its own and is removed in AfterAll.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Busybox, Bubblewrap, Strace
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $null = New-PesterStore -Tag trace
    $null = New-PesterBusyboxImage -Name pester-trace
}

AfterAll { Remove-PesterStore }

Describe 'Invoke-SandboxCommand -Trace' -Skip:([bool]$script:skipReason) {
    It 'traces a one-shot -Image command and shows the summary in the result''s view' {
        $r = Invoke-SandboxCommand -Image pester-trace -Provider Bubblewrap -Trace -- sh -c 'cat /etc/passwd >/dev/null; echo y > /proc/sys/kernel/hostname; exit 2'
        $r.ExitCode | Should -Be 2
        $r.Trace.Files | Where-Object { $_.Operation -eq 'Read' -and $_.Path -eq '/etc/passwd' } | Should -Not -BeNullOrEmpty
        $r.Trace.Summary.Denied | Should -Be 1
        $view = $r | Out-String -Width 300
        $view | Should -Match 'files \(.*\), 1 denied, \d+ processes'
        Get-Sandbox | Should -BeNullOrEmpty
    }

    It 'traces in an existing sandbox, and an untraced result has no Trace and the usual view' {
        $sb = Enter-Sandbox -Image pester-trace -Provider Bubblewrap
        try {
            $traced = Invoke-SandboxCommand $sb -Trace -- sh -c '/bin/true one two'
            $exec = $traced.Trace.Processes | Where-Object { $_.Argv -contains 'one' }
            $exec.Argv | Should -Be @('/bin/true', 'one', 'two')
            $plain = Invoke-SandboxCommand $sb -- sh -c 'true'
            $plain.Trace | Should -BeNullOrEmpty
            ($plain | Out-String -Width 300) | Should -Not -Match 'denied'
        } finally { $sb | Remove-Sandbox }
    }

    It 'prints a path holding terminal escapes with them neutered, and keeps the exact text in the object' {
        $sb = Enter-Sandbox -Image pester-trace -Provider Bubblewrap
        try {
            $r = Invoke-SandboxCommand $sb -Trace -- sh -c 'printf x > "$(printf "/tmp/\033]0;owned\007\033[2J")"'
            $hostile = "/tmp/$([char]27)]0;owned$([char]7)$([char]27)[2J"
            ($r.Trace.Files | Where-Object Operation -eq 'Create').Path | Should -Contain $hostile
            $rendering = $PSStyle.OutputRendering
            $PSStyle.OutputRendering = 'PlainText' # the table headers' own colours are not the path's
            try { $shown = ($r.Trace.Files | Out-String -Width 300) + ($r.Trace | Out-String -Width 300) }
            finally { $PSStyle.OutputRendering = $rendering }
            $shown | Should -Not -Match "[\x07\x1b]"
            $shown | Should -Match ([regex]::Escape('/tmp/?]0;owned??[2J'))
        } finally { $sb | Remove-Sandbox }
    }
}
