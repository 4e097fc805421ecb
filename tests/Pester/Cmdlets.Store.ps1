# Shared by the Cmdlets.*.Tests.ps1 files and Layers.Tests.ps1: a store of their own (PesterStore.ps1)
# holding pester-busybox, a tiny busybox image with /etc/os-release and /data/file.txt ('original').
# Dot-source in BeforeAll and call New-CmdletsTestStore; call Remove-PesterStore in AfterAll.

. (Join-Path $PSScriptRoot 'PesterStore.ps1')

function New-CmdletsTestStore {
    $script:store = New-PesterStore -Tag cmdlets
    $null = New-PesterBusyboxImage -Name pester-busybox -Folder 'data' -File @{
        'etc/os-release' = 'PRETTY_NAME="Busybox test image"'
        'data/file.txt' = 'original'
    }
}
