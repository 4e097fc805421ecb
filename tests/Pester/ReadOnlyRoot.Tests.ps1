# Enter-Sandbox -ReadOnlyRoot -WritablePath as a user meets it: / is read-only (EROFS) for every
# command of the sandbox, a shell included, except the listed folders, whose writes last and show in
# Get-SandboxStat -Changes; the one-shot Invoke-SandboxCommand -Image takes the same parameters; bad
# paths are catalogue errors. Every sandbox and image made here lives in a store of its own, removed
# in AfterAll.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Busybox, Bubblewrap
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:manifest = Get-PesterModulePath
    $script:store = New-PesterStore -Tag readonly
    # The image's own tree (its one layer), which no sandbox write may reach.
    $script:rootfs = (New-PesterBusyboxImage -Name pester-readonly).RootFs
}

AfterAll { Remove-PesterStore }

Describe 'Enter-Sandbox -ReadOnlyRoot -WritablePath' -Skip:([bool]$script:skipReason) {
    It 'fails writes outside the writable paths with EROFS, for every command and a shell, and keeps what /build got' {
        $sb = Enter-Sandbox -Image pester-readonly -Provider Bubblewrap -ReadOnlyRoot -WritablePath /build, /tmp/
        try {
            $sb.ReadOnlyRoot | Should -BeTrue
            $sb.WritablePaths | Should -Be @('/build', '/tmp')
            $listed = Get-Sandbox | Where-Object Id -EQ $sb.Id
            $listed.ReadOnlyRoot | Should -BeTrue
            $listed.WritablePaths | Should -Be @('/build', '/tmp')

            $etc = Invoke-SandboxCommand $sb -- touch /etc/x
            $etc.ExitCode | Should -Not -Be 0
            $etc.StdErr | Should -Match '/etc/x: Read-only file system'
            (Invoke-SandboxCommand $sb -- touch /build/x).ExitCode | Should -Be 0
            (Invoke-SandboxCommand $sb -- sh -c 'ls /build; touch /etc/y 2>&1').StdOut | Should -Match '(?s)^x\n.*/etc/y: Read-only file system'

            # A shell in the same sandbox (stdin not a terminal: read as a script), in a pwsh of its own.
            $script = 'touch /etc/z 2>&1; echo etc=$?; echo shell > /build/s; echo build=$?'
            $shell = $script | & pwsh -NoProfile -NonInteractive -Command "Import-Module '$script:manifest'; Enter-Sandbox -Sandbox (Get-Sandbox | Where-Object Id -EQ '$($sb.Id)')"
            ($shell -join "`n") | Should -Match '/etc/z: Read-only file system'
            ($shell -join "`n") | Should -Match 'etc=1'
            ($shell -join "`n") | Should -Match 'build=0'

            $changes = (Get-SandboxStat -Sandbox $sb -Changes).Path
            $changes | Should -Contain '/build/x'
            $changes | Should -Contain '/build/s'
            $changes | Where-Object { $_ -like '/etc*' } | Should -BeNullOrEmpty
            Test-Path (Join-Path $script:rootfs 'etc/passwd') | Should -BeTrue -Because 'the checks below look in the image''s real tree'
            Test-Path (Join-Path $script:rootfs 'etc/x') | Should -BeFalse
            Test-Path (Join-Path $script:rootfs 'build') | Should -BeFalse
        }
        finally { $sb | Remove-Sandbox }
    }

    It 'makes the one-shot sandbox of Invoke-SandboxCommand -Image read-only too' {
        $result = Invoke-SandboxCommand -Image pester-readonly -Provider Bubblewrap -ReadOnlyRoot -WritablePath /out -Command sh, -c, 'touch /etc/x 2>&1; echo etc=$?; touch /out/x; echo out=$?'
        $result.StdOut | Should -Match '/etc/x: Read-only file system'
        $result.StdOut | Should -Match 'etc=1'
        $result.StdOut | Should -Match 'out=0'
        Get-Sandbox | Should -BeNullOrEmpty
    }

    It 'refuses bad writable paths with a catalogue error and makes nothing' {
        foreach ($bad in 'build', '/build/../etc', '/', '/proc/self') {
            { Enter-Sandbox -Image pester-readonly -Provider Bubblewrap -ReadOnlyRoot -WritablePath $bad -ErrorAction Stop } |
                Should -Throw -ErrorId 'InvalidWritablePath,Sandbox.Commands.EnterSandboxCommand'
        }
        { Enter-Sandbox -Image pester-readonly -Provider Bubblewrap -WritablePath /build -ErrorAction Stop } |
            Should -Throw -ErrorId 'WritablePathWithoutReadOnlyRoot,Sandbox.Commands.EnterSandboxCommand'
        Get-Sandbox | Should -BeNullOrEmpty
    }
}
