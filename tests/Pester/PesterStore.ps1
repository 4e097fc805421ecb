# Shared by the Pester files: why a file cannot run here, a store of its own for each file, and one
# bookworm minbase per suite run. Dot-source it in BeforeDiscovery (for Get-PesterSkipReason) and in
# BeforeAll (for the rest); call Remove-PesterStore in AfterAll.
#
# A file's work folder is /tmp/sandbox-pester-<tag>-<guid>/ (0700, or 0755 with -TestUserCanEnter so
# the user sandbox-test can reach stores of their own inside); the store (SANDBOX_HOME) is its
# store/ folder, the rest is the file's own (trees, outputs, scripts). Remove-PesterStore removes
# the sandboxes, the images and the whole folder.

. (Join-Path $PSScriptRoot 'BusyboxTree.ps1')

# Each predicate returns why the tests cannot run on this machine, or $null when they can.
function Get-MissingLinux { if (-not $IsLinux) { 'Sandbox runs on Linux only.' } }
function Get-MissingRoot([string] $For) { if ((id -u) -ne '0') { "$For needs root; CI runs the Pester suite as root." } }
function Get-MissingBusybox { if (-not (Test-Path /bin/busybox)) { 'busybox-static is not installed (bash tools/setup.sh installs it).' } }
function Get-MissingCommand([string] $Name, [string] $Package) {
    if (-not (Get-Command $Name -ErrorAction SilentlyContinue)) { "$Package is not installed (bash tools/setup.sh installs it)." }
}
function Get-MissingDebianBuilder {
    if (-not (Get-Command mmdebstrap -ErrorAction SilentlyContinue) -and -not (Get-Command debootstrap -ErrorAction SilentlyContinue)) {
        'neither mmdebstrap nor debootstrap is installed (bash tools/setup.sh installs them).'
    }
}

function Get-PesterSkipReason {
    <#
    .SYNOPSIS
        Why the file -File cannot run here (the first missing need), or $null; says so on the console
        as "SKIPPED: <file>: <why>" so a skip shows in the CI log. Linux is always needed.
    .PARAMETER Need
        Root (with -RootFor saying what for), Busybox, Bubblewrap, Nspawn, DebianBuilder
        (mmdebstrap or debootstrap), Strace, Tmux.
    #>
    param(
        [Parameter(Mandatory)] [string] $File,
        [ValidateSet('Root', 'Busybox', 'Bubblewrap', 'Nspawn', 'DebianBuilder', 'Strace', 'Tmux')] [string[]] $Need = @(),
        [string] $RootFor = 'this file'
    )
    $reason = Get-MissingLinux
    foreach ($need in $Need) {
        if ($reason) { break }
        $reason = switch ($need) {
            'Root' { Get-MissingRoot -For $RootFor }
            'Busybox' { Get-MissingBusybox }
            'Bubblewrap' { Get-MissingCommand bwrap bubblewrap }
            'Nspawn' { Get-MissingCommand systemd-nspawn systemd-container }
            'DebianBuilder' { Get-MissingDebianBuilder }
            'Strace' { Get-MissingCommand strace strace }
            'Tmux' { Get-MissingCommand tmux tmux }
        }
    }
    if ($reason) { Write-Host "SKIPPED: $(Split-Path -Leaf $File): $reason" }
    $reason
}

function Get-PesterModulePath { (Resolve-Path (Join-Path $PSScriptRoot '../../out/Sandbox/Sandbox.psd1')).Path }

function New-PesterStore {
    <#
    .SYNOPSIS
        Imports the built module, makes the file's work folder and points SANDBOX_HOME at the store
        inside it; returns the store's path (its parent is the work folder).
    #>
    param([string] $Tag = 'store', [switch] $TestUserCanEnter)
    Import-Module (Get-PesterModulePath) -Force
    $run = Join-Path ([IO.Path]::GetTempPath()) "sandbox-pester-$Tag-$([guid]::NewGuid().ToString('N'))"
    $null = New-Item -ItemType Directory -Path $run
    chmod $(if ($TestUserCanEnter) { '755' } else { '700' }) $run
    $script:PesterStoreState = [pscustomobject]@{ Run = $run; Store = Join-Path $run 'store'; PreviousHome = $env:SANDBOX_HOME }
    $env:SANDBOX_HOME = $script:PesterStoreState.Store
    $script:PesterStoreState.Store
}

function New-PesterBusyboxImage {
    <#
    .SYNOPSIS
        Imports a busybox tree (see New-BusyboxTree; -File maps a path in the tree to its text) as
        image -Name in the current store; the tree stays in the work folder as tree-<name>.
    #>
    param(
        [Parameter(Mandatory)] [string] $Name,
        [string[]] $Folder = @(),
        [string[]] $Passwd = @('root:x:0:0:root:/root:/bin/sh'),
        [hashtable] $File = @{}
    )
    $tree = Join-Path $script:PesterStoreState.Run "tree-$Name"
    New-BusyboxTree -Path $tree -Folder $Folder -Passwd $Passwd
    foreach ($path in $File.Keys) { Set-Content -Path (Join-Path $tree $path) -Value $File[$path] }
    New-SandboxImage -Name $Name -Path $tree
}

# Every mount point this process's mount namespace sees (mountinfo's fifth field, octal escapes
# such as \040 for a space decoded).
function Get-MountPoint {
    foreach ($line in Get-Content /proc/self/mountinfo) {
        [regex]::Replace(($line -split ' ')[4], '\\([0-7]{3})', { param($m) [string][char][Convert]::ToInt32($m.Groups[1].Value, 8) })
    }
}

# Removes a folder tree whatever its owners (a rootless store holds subordinate ids). A mount left
# below it (a root Bubblewrap sandbox whose removal failed) is unmounted first, deepest first, and
# rm never crosses into another filesystem, so nothing outside the folder is touched.
function Remove-PesterFolder([string] $Path) {
    if (-not $Path -or -not (Test-Path -LiteralPath $Path)) { return }
    $full = (Resolve-Path -LiteralPath $Path).Path.TrimEnd('/')
    $mounts = Get-MountPoint | Where-Object { $_.StartsWith("$full/", [StringComparison]::Ordinal) } | Sort-Object Length -Descending
    foreach ($mount in $mounts) { umount $mount 2>$null; if ($LASTEXITCODE -ne 0) { umount --lazy $mount } }
    rm -rf --one-file-system -- $full
    if (Test-Path -LiteralPath $full) { throw "Could not remove $full (is something still mounted below it?)" }
}

function Remove-PesterStore {
    <# .SYNOPSIS Removes every sandbox and image of the store, then the work folder; restores SANDBOX_HOME. #>
    $state = $script:PesterStoreState
    if (-not $state) { return }
    try {
        Get-Sandbox -ErrorAction SilentlyContinue | Remove-Sandbox -Confirm:$false -ErrorAction SilentlyContinue
        Get-SandboxImage -ErrorAction SilentlyContinue | Remove-SandboxImage -Force -Confirm:$false -ErrorAction SilentlyContinue
    }
    finally {
        $env:SANDBOX_HOME = $state.PreviousHome
        Remove-Module Sandbox -ErrorAction SilentlyContinue
        $script:PesterStoreState = $null
        Remove-PesterFolder $state.Run
    }
}

function Get-SharedImage {
    <#
    .SYNOPSIS
        Image -Name in the current store, imported from the image -Build makes in the run's cache
        store the first time any file asks for that recipe (named there by a hash of its text, so
        two recipes never share an image). Each file gets a copy of the tree in its own store: its
        sandboxes and derived images never meet another file's. Invoke-PesterSuite.ps1 names the
        run's cache folder in SANDBOX_PESTER_CACHE and removes it at the end; a file run alone
        builds in its own work folder, removed with it.
    .PARAMETER Build
        Makes a base image, named by its one argument, in the current store (the cache's).
    #>
    param([Parameter(Mandatory)] [string] $Name, [Parameter(Mandatory)] [scriptblock] $Build)
    $cache = $env:SANDBOX_PESTER_CACHE
    if (-not $cache) { $cache = Join-Path $script:PesterStoreState.Run 'image-cache' }
    elseif (-not (Test-Path -LiteralPath $cache -PathType Container)) {
        throw "SANDBOX_PESTER_CACHE names $cache, which is not a folder: Invoke-PesterSuite.ps1 makes one for each run."
    }
    $recipe = [Security.Cryptography.SHA256]::HashData([Text.Encoding]::UTF8.GetBytes($Build.ToString()))
    $key = 'shared-' + [Convert]::ToHexString($recipe).Substring(0, 16).ToLowerInvariant()
    $fileStore = $env:SANDBOX_HOME
    $env:SANDBOX_HOME = Join-Path $cache 'store'
    try {
        $built = Get-SandboxImage -Name $key -ErrorAction SilentlyContinue
        if (-not $built) { $built = & $Build $key }
    }
    finally { $env:SANDBOX_HOME = $fileStore }
    # Only a base image is one layer whose tree is the whole root filesystem.
    if ($built.Parent) { throw "A shared image must be a base image; this recipe derived one from $($built.Parent)." }
    New-SandboxImage -Name $Name -Path $built.RootFs
}

function Get-SharedBookworm {
    <# .SYNOPSIS Image -Name in the current store: the run's one bookworm minbase (see Get-SharedImage). #>
    param([Parameter(Mandatory)] [string] $Name)
    Get-SharedImage -Name $Name -Build { param($key) New-SandboxImage -Name $key -Suite bookworm -Variant minbase }
}
