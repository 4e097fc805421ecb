# A SANDBOX_HOME that belongs to someone else is refused by every cmdlet, as a proper error record
# (StoreNotOwned, PermissionDenied, the fix as the recommended action), and nothing is written there.

BeforeDiscovery {
    $script:skipReason = $null
    if (-not $IsLinux) { $script:skipReason = 'Sandbox runs on Linux only.' }
    elseif ((id -u) -ne '0') { $script:skipReason = 'needs root, to give a folder to the user sandbox-test (CI runs as root).' }
    if ($script:skipReason) { Write-Host "SKIPPED: StoreOwner.Tests.ps1: $script:skipReason" }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../out/Sandbox/Sandbox.psd1') -Force
    $user = 'sandbox-test'
    id -u $user *> $null
    if ($LASTEXITCODE -ne 0) { useradd --create-home --shell /bin/sh --comment 'Sandbox module tests' $user }
    $script:run = Join-Path ([IO.Path]::GetTempPath()) "sandbox-pester-owner-$([guid]::NewGuid().ToString('N'))"
    $null = New-Item -ItemType Directory -Path $script:run
    chmod 755 $script:run
    $script:store = Join-Path $script:run 'store'
    $null = New-Item -ItemType Directory -Path $script:store
    chmod 755 $script:store
    chown "${user}:" $script:store
    $script:previousHome = $env:SANDBOX_HOME
    $env:SANDBOX_HOME = $script:store
}

AfterAll {
    $env:SANDBOX_HOME = $script:previousHome
    if ($script:run -and (Test-Path $script:run)) { Remove-Item -Recurse -Force $script:run }
    Remove-Module Sandbox -ErrorAction SilentlyContinue
}

Describe 'A store owned by another user' -Skip:([bool]$script:skipReason) {
    It 'is refused by Get-Sandbox with StoreNotOwned, naming the folder, its owner and the fix' {
        $record = $null
        try { Get-Sandbox -ErrorAction Stop } catch { $record = $_ }

        $record | Should -Not -BeNullOrEmpty
        $record.FullyQualifiedErrorId | Should -Be 'StoreNotOwned,Sandbox.Commands.GetSandboxCommand'
        $record.CategoryInfo.Category | Should -Be 'PermissionDenied'
        $record.Exception.Message | Should -BeLike "*$($script:store)*sandbox-test*"
        $record.ErrorDetails.RecommendedAction | Should -BeLike '*SANDBOX_HOME*'
    }

    It 'is left as it was: nothing created, not tightened' {
        { Enter-Sandbox -Image any -ErrorAction Stop } | Should -Throw -ErrorId 'StoreNotOwned,*'
        @(Get-ChildItem -Force $script:store).Count | Should -Be 0
        (stat -c '%a %U' $script:store) | Should -Be '755 sandbox-test'
    }
}
