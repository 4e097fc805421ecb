# Layered images as a pwsh user sees them: Get-SandboxImage's Id, Parent and sizes, the chain in
# Format-List, and Remove-SandboxImage refusing while a derived image stands on its parent.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Busybox, Bubblewrap
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Cmdlets.Store.ps1')
    New-CmdletsTestStore
    # The engine's commit, as New-SandboxImage -Sandbox uses it.
    $sb = Enter-Sandbox -Image pester-busybox -Provider Bubblewrap -Name pester-layer-source
    $null = Invoke-SandboxCommand $sb -Command sh, -c, 'echo derived > /data/derived.txt' -Check
    $script:derived = [Sandbox.SandboxEngine]::Open().CommitSandbox($sb.Id, 'pester-derived',
        [System.Collections.Generic.Dictionary[string, string]]::new(), $false, [Threading.CancellationToken]::None)
    $sb | Remove-Sandbox
}

AfterAll { Remove-PesterStore }

Describe 'Get-SandboxImage on a derived image' -Skip:([bool]$script:skipReason) {
    It 'shows the short Id, the Parent and the sizes in the table' {
        $image = Get-SandboxImage -Name pester-derived
        $image.Id | Should -Match '^[0-9a-f]{64}$'
        $image.Parent | Should -Be 'pester-busybox'
        $image.LayerSize | Should -BeGreaterThan 0
        $image.TotalSize | Should -BeGreaterThan $image.LayerSize
        $table = Get-SandboxImage -Name pester-derived | Format-Table | Out-String
        $table | Should -Match 'Id\s+Parent'
        $table | Should -Match ([regex]::Escape($image.Id.Substring(0, 12)))
        $table | Should -Not -Match ([regex]::Escape($image.Id))
        $table | Should -Match 'pester-busybox'
    }

    It 'shows the chain in Format-List' {
        Get-SandboxImage -Name pester-derived | Format-List | Out-String |
            Should -Match 'Chain\s+: pester-derived <- pester-busybox'
    }

    It 'runs the parent plus its own layer' {
        $sb = Enter-Sandbox -Image pester-derived -Provider Bubblewrap
        (Invoke-SandboxCommand $sb -Command cat, /data/file.txt, /data/derived.txt).StdOut | Should -Be "original`nderived`n"
        $sb | Remove-Sandbox
    }
}

Describe 'Remove-SandboxImage with a derived image' -Skip:([bool]$script:skipReason) {
    It 'refuses to remove the parent, naming the derived image; -Force says what it removed' {
        { Remove-SandboxImage pester-busybox -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'ImageInUse,Sandbox.Commands.RemoveSandboxImageCommand' -ExpectedMessage "*'pester-derived'*"
        Get-SandboxImage -Name pester-derived | Should -Not -BeNullOrEmpty
        $warnings = @(Remove-SandboxImage pester-busybox -Force -Confirm:$false 3>&1)
        $warnings.Count | Should -Be 1
        "$($warnings[0])" | Should -BeLike "Removed image 'pester-derived'*"
        Get-SandboxImage -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }
}
