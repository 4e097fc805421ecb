# Shared by the Cmdlets.*.Tests.ps1 files: a store of their own and a tiny busybox image to import.
# Dot-source in BeforeAll; call Remove-CmdletsTestStore in AfterAll.

function Get-CmdletsSkipReason {
    if (-not $IsLinux) { return 'Sandbox runs on Linux only.' }
    if (-not (Test-Path /bin/busybox)) { return 'busybox-static is not installed (bash tools/setup.sh installs it).' }
    if (-not (Get-Command bwrap -ErrorAction SilentlyContinue)) { return 'bubblewrap is not installed (bash tools/setup.sh installs it).' }
    return $null
}

function New-CmdletsTestStore {
    Import-Module (Join-Path $PSScriptRoot '../../out/Sandbox/Sandbox.psd1') -Force
    $script:store = Join-Path ([IO.Path]::GetTempPath()) "sandbox-pester-$([guid]::NewGuid().ToString('N'))"
    $script:previousHome = $env:SANDBOX_HOME
    $env:SANDBOX_HOME = $script:store
    $script:tree = Join-Path $script:store 'tree'
    . (Join-Path $PSScriptRoot 'BusyboxTree.ps1')
    New-BusyboxTree -Path $script:tree -Folder 'data'
    Set-Content -Path (Join-Path $script:tree 'etc/os-release') -Value 'PRETTY_NAME="Busybox test image"'
    Set-Content -Path (Join-Path $script:tree 'data/file.txt') -Value 'original'
    $null = New-SandboxImage -Name pester-busybox -Path $script:tree
}

function Remove-CmdletsTestStore {
    Get-Sandbox -ErrorAction SilentlyContinue | Remove-Sandbox -Confirm:$false -ErrorAction SilentlyContinue
    Get-SandboxImage -ErrorAction SilentlyContinue | Remove-SandboxImage -Force -Confirm:$false -ErrorAction SilentlyContinue
    if ($script:store -and (Test-Path $script:store)) { Remove-Item -Recurse -Force $script:store }
    $env:SANDBOX_HOME = $script:previousHome
    Remove-Module Sandbox -ErrorAction SilentlyContinue
}
