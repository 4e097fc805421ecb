# Shared by the Pester files: the tiny busybox root filesystem their images are imported from.
# Dot-source it, then call New-BusyboxTree.

function New-BusyboxTree {
    <#
    .SYNOPSIS
        Makes a busybox root filesystem at -Path: bin/ with busybox and a link per applet, etc/passwd
        (root, or the -Passwd lines given), tmp/, root/, and any -Folder given.
    #>
    param(
        [Parameter(Mandatory)] [string] $Path,
        [string[]] $Folder = @(),
        [string[]] $Passwd = @('root:x:0:0:root:/root:/bin/sh')
    )
    foreach ($name in @('bin', 'etc', 'tmp', 'root') + $Folder) { $null = New-Item -ItemType Directory -Force -Path (Join-Path $Path $name) }
    Copy-Item /bin/busybox (Join-Path $Path 'bin/busybox')
    foreach ($applet in (& /bin/busybox --list)) {
        if ($applet -ne 'busybox') { $null = New-Item -ItemType SymbolicLink -Path (Join-Path $Path "bin/$applet") -Target busybox }
    }
    Set-Content -Path (Join-Path $Path 'etc/passwd') -Value $Passwd
}
