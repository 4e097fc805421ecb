# What the Get/Remove cmdlets give a pwsh user: names where objects are taken, the figures and
# reasons they show, in an order that reads.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Busybox, Bubblewrap
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Cmdlets.Store.ps1')
    New-CmdletsTestStore
}

AfterAll { Remove-PesterStore }

Describe 'Remove-Sandbox' -Skip:([bool]$script:skipReason) {
    It 'takes names and ids as Invoke-SandboxCommand does: Remove-Sandbox other-c' {
        $c = Enter-Sandbox -Image pester-busybox -Provider Bubblewrap -Name other-c
        $d = Enter-Sandbox -Image pester-busybox -Provider Bubblewrap -Name other-d
        $e = Enter-Sandbox -Image pester-busybox -Provider Bubblewrap -Name other-e
        Remove-Sandbox other-c
        Remove-Sandbox $d.Id, other-e
        foreach ($gone in $c, $d, $e) {
            Get-Sandbox -Id $gone.Id -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            Test-Path (Join-Path $script:store "sandboxes/$($gone.Id)") | Should -BeFalse
        }
    }

    It 'says which name it does not know, and where wildcards go' {
        { Remove-Sandbox no-such-sandbox -ErrorAction Stop } | Should -Throw '*no-such-sandbox*'
        { Remove-Sandbox 'no-such-*' -ErrorAction Stop } | Should -Throw '*-Name*'
    }
}

Describe 'Get-SandboxStat -Changes' -Skip:([bool]$script:skipReason) {
    It 'lists changed paths sorted by path' {
        $sb = Enter-Sandbox -Image pester-busybox -Provider Bubblewrap -Name pester-changes
        try {
            $null = Invoke-SandboxCommand $sb -Command sh, -c, 'for f in zeta alpha mu beta omega gamma kappa delta; do echo x > /data/$f; done; rm /data/file.txt'
            $paths = @((Get-SandboxStat $sb -Changes).Path | Where-Object { $_ -like '/data/*' })
            $paths.Count | Should -Be 9
            $sorted = [string[]]$paths.Clone()
            [Array]::Sort($sorted, [StringComparer]::Ordinal)
            $paths | Should -Be $sorted
        }
        finally { $sb | Remove-Sandbox }
    }
}

Describe 'Get-SandboxProvider' -Skip:([bool]$script:skipReason) {
    It 'shows in its default table why a provider is unavailable, in full' {
        $unavailable = @(Get-SandboxProvider | Where-Object { -not $_.Available })
        if ($unavailable.Count -eq 0) { Set-ItResult -Skipped -Because 'every provider is available to this user' ; return }
        $table = Get-SandboxProvider | Out-String -Width 100
        $table | Should -Match 'Reason'
        foreach ($provider in $unavailable) {
            # Wrapped over lines, never cut: compare without the white space wrapping adds.
            ($table -replace '\s', '') | Should -BeLike "*$(($provider.Reason -replace '\s', ''))*"
        }
    }
}

Describe 'Get-SandboxImage' -Skip:([bool]$script:skipReason) {
    It 'has an apparent size (SizeBytes) that counts its files' {
        $image = Get-SandboxImage pester-busybox
        $busybox = (Get-Item /bin/busybox).Length
        $image.SizeBytes | Should -BeGreaterOrEqual $busybox
        $image.SizeBytes | Should -BeLessThan ($busybox + 1MB)
    }

    It 'shows its own layer and the total of its layers in one measure, so the total is never the smaller' {
        $image = Get-SandboxImage pester-busybox
        $image.TotalSize | Should -BeGreaterOrEqual $image.LayerSize
        $image.LayerSize | Should -BeGreaterThan 0
        $row = ($image | Out-String -Width 160) -split "`n" | Where-Object { $_ -match '^pester-busybox ' }
        $row | Should -Match ([regex]::Escape(('{0:N1}' -f ($image.LayerSize / 1MB))) + '\s+' + [regex]::Escape(('{0:N1}' -f ($image.TotalSize / 1MB))))
        ($image | Out-String -Width 160) | Should -Match 'Layer\(MB\)\s+Total\(MB\)'
    }

    It 'measures an image with links to / and to themselves without following them' {
        $tree = Join-Path $script:store 'linked-tree'
        $null = New-Item -ItemType Directory -Force -Path (Join-Path $tree 'bin'), (Join-Path $tree 'data')
        Copy-Item /bin/busybox (Join-Path $tree 'bin/busybox')
        $null = New-Item -ItemType SymbolicLink -Path (Join-Path $tree 'data/host-root') -Target /
        $null = New-Item -ItemType SymbolicLink -Path (Join-Path $tree 'data/loop') -Target .
        $image = New-SandboxImage -Name pester-linked -Path $tree
        try {
            $image.SizeBytes | Should -BeGreaterOrEqual (Get-Item /bin/busybox).Length
            $image.SizeBytes | Should -BeLessThan ((Get-Item /bin/busybox).Length + 1MB)
        }
        finally { Remove-SandboxImage -Name pester-linked }
    }
}
