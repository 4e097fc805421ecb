# apt-get update in a real bookworm minbase, the first thing a provisioning script does: it needs a
# writable, sticky /tmp (mode 1777) and a network. As root (Bubblewrap, -Network Host) on the suite
# run's one bookworm (Get-SharedBookworm) imported into a store of this file's, and rootless as the
# user sandbox-test in a store of that user's, importing that tree as a tarball (so the mirror is
# asked once per run).

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Root, Bubblewrap, DebianBuilder -RootFor 'building the image and switching to the test user'
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:modulePath = Get-PesterModulePath
    # The work folder is traversable by the test user; the stores inside are 0700 each.
    $script:run = Split-Path -Parent (New-PesterStore -Tag apt -TestUserCanEnter)
    $script:image = Get-SharedBookworm -Name apt-bookworm
}

AfterAll { Remove-PesterStore }

Describe 'apt-get update in a Bubblewrap sandbox' -Skip:([bool]$script:skipReason) {
    It 'works as root, with /tmp and /var/tmp sticky and world-writable' {
        $sandbox = Enter-Sandbox -Image apt-bookworm -Provider Bubblewrap -Network Host
        try {
            (Invoke-SandboxCommand -Sandbox $sandbox -Command stat, -c, '%a', /tmp, /var/tmp).StdOut | Should -Be "1777`n1777`n"
            $update = Invoke-SandboxCommand -Sandbox $sandbox -Command apt-get, update
            $update.StdErr | Should -Not -Match "Couldn't create temporary file"
            $update.ExitCode | Should -Be 0 -Because $update.StdErr
        }
        finally { $sandbox | Remove-Sandbox -Confirm:$false }
    }

    It 'works rootless, as the user sandbox-test in a store of their own' {
        $user = 'sandbox-test'
        id -u $user *> $null
        if ($LASTEXITCODE -ne 0) { useradd --create-home --shell /bin/sh --comment 'Sandbox module tests' $user }
        $tarball = Join-Path $script:run 'apt-bookworm.tar.zst'
        $null = Export-SandboxImage -Name apt-bookworm -Path $tarball
        chmod 644 $tarball
        $script = Join-Path $script:run 'rootless.ps1'
        Set-Content -Path $script -Value @'
param($ModulePath, $Store, $Tarball)
$ErrorActionPreference = 'Stop'
$env:SANDBOX_HOME = $Store
Import-Module $ModulePath
$null = New-SandboxImage -Name apt-bookworm -Path $Tarball
$sandbox = Enter-Sandbox -Image apt-bookworm -Provider Bubblewrap -Network Host
$modes = (Invoke-SandboxCommand -Sandbox $sandbox -Command stat, -c, '%a', /tmp, /var/tmp).StdOut
$update = Invoke-SandboxCommand -Sandbox $sandbox -Command apt-get, update
$sandbox | Remove-Sandbox -Confirm:$false
[pscustomobject]@{ Modes = $modes; ExitCode = $update.ExitCode; StdErr = $update.StdErr } | ConvertTo-Json -Compress
'@
        chmod 644 $script
        $userStore = Join-Path $script:run 'user-store'
        $null = New-Item -ItemType Directory -Path $userStore
        chown "${user}:" $userStore
        $output = runuser -u $user -- env "HOME=/home/$user" pwsh -NoProfile -NonInteractive -File $script $script:modulePath $userStore $tarball
        $LASTEXITCODE | Should -Be 0 -Because ($output -join "`n")
        $result = ($output | Select-Object -Last 1) | ConvertFrom-Json
        $result.Modes | Should -Be "1777`n1777`n"
        $result.StdErr | Should -Not -Match "Couldn't create temporary file"
        $result.ExitCode | Should -Be 0 -Because $result.StdErr
    }
}
