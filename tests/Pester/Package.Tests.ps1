# The module as the PowerShell Gallery would ship it: one version everywhere, a package that
# Publish-PSResource publishes to a repository and Install-PSResource installs from it, after which
# `Import-Module Sandbox` by name (through PSModulePath) runs a command in a sandbox. The same for
# the package `dotnet pack build/Package.csproj` makes without pwsh.
#
# The publishing and installing run in a child pwsh whose HOME is a temporary folder (XDG_* unset):
# the repository registration, the CurrentUser install scope, the module path and caches all land
# there and go with it, so the host's pwsh configuration is never touched.

BeforeDiscovery {
    $script:skipReason = $null
    if (-not $IsLinux) { $script:skipReason = 'Sandbox runs on Linux only.' }
    elseif (-not (Get-Module -ListAvailable Microsoft.PowerShell.PSResourceGet | Where-Object Version -ge '1.1.0')) {
        $script:skipReason = 'Microsoft.PowerShell.PSResourceGet 1.1+ is not installed.'
    }
    elseif (-not (Test-Path /bin/busybox)) { $script:skipReason = 'busybox-static is not installed (bash tools/setup.sh installs it).' }
    elseif (-not (Get-Command bwrap -ErrorAction SilentlyContinue)) { $script:skipReason = 'bubblewrap is not installed (bash tools/setup.sh installs it).' }
    if ($script:skipReason) { Write-Host "SKIPPED: Package.Tests.ps1: $script:skipReason" }
}

BeforeAll {
    $script:repoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
    $script:moduleFolder = Join-Path $script:repoRoot 'out/Sandbox'
    $script:work = Join-Path ([IO.Path]::GetTempPath()) "sandbox-package-$([guid]::NewGuid().ToString('N'))"
    $null = New-Item -ItemType Directory -Path $script:work
    . (Join-Path $PSScriptRoot 'BusyboxTree.ps1')
    New-BusyboxTree -Path (Join-Path $script:work 'tree')

    [xml] $props = Get-Content -Raw (Join-Path $script:repoRoot 'Directory.Build.props')
    $script:propsVersion = @($props.Project.PropertyGroup.VersionPrefix | Where-Object { $_ })[0]

    # Runs $Script in a child pwsh whose home is under $Root; returns the JSON object it writes last.
    # The child's environment is set by env(1): this process's own environment is never changed.
    function Invoke-IsolatedPwsh([string] $Root, [string] $Script, [string[]] $Variable = @()) {
        $scriptFile = Join-Path $Root 'run.ps1'
        Set-Content -Path $scriptFile -Value $Script
        $home_ = Join-Path $Root 'home'
        # With no ~/.config, .NET's ApplicationData folder is '' and NuGet (inside PSResourceGet) then
        # writes NuGet/NuGet.Config into the working folder: a real home has one.
        $null = New-Item -ItemType Directory -Force -Path (Join-Path $home_ '.config')
        # HOME alone decides (XDG_* unset): PSResourceGet installs CurrentUser under $HOME/.local/share
        # even when XDG_DATA_HOME says otherwise, while pwsh's module path follows XDG_DATA_HOME.
        # PSModulePath unset: only pwsh's own modules, so Sandbox is found in that scope or not at all.
        # Its working folder is $Root too: whatever the tools write relative to it goes with $Root.
        Push-Location $Root
        try {
            $output = & env -u XDG_DATA_HOME -u XDG_CONFIG_HOME -u XDG_CACHE_HOME -u PSModulePath "HOME=$home_" `
                "SANDBOX_HOME=$(Join-Path $Root 'store')" @Variable `
                (Join-Path $PSHOME 'pwsh') -NoLogo -NoProfile -NonInteractive -File $scriptFile 2>&1
            $exitCode = $LASTEXITCODE
        } finally { Pop-Location }
        if ($exitCode -ne 0) { throw "The child pwsh failed ($exitCode):`n$($output | Out-String)" }
        ($output | Where-Object { "$_".StartsWith('{') } | Select-Object -Last 1 | ForEach-Object { "$_" }) | ConvertFrom-Json
    }

    # What the child does with a repository folder holding Sandbox: install it for CurrentUser,
    # import it by name, and run a command in a sandbox of a busybox image.
    $script:installAndRun = @'
$ErrorActionPreference = 'Stop'
Register-PSResourceRepository -Name PackageTest -Uri $repository -Trusted
Install-PSResource -Name Sandbox -Repository PackageTest -Scope CurrentUser -Prerelease
Import-Module Sandbox
$module = Get-Module Sandbox
$null = New-SandboxImage -Name package-busybox -Path $tree
$result = Invoke-SandboxCommand -Image package-busybox -Provider Bubblewrap -Command sh, -c, 'echo installed from the package'
$left = @(Get-Sandbox).Count
Get-SandboxImage | Remove-SandboxImage -Force -Confirm:$false
[pscustomobject]@{
    ModuleBase = $module.ModuleBase
    Version = $module.Version.ToString()
    Files = @(Get-ChildItem -Recurse -File $module.ModuleBase | ForEach-Object { $_.FullName.Substring($module.ModuleBase.Length + 1) } | Sort-Object)
    ExitCode = $result.ExitCode
    StdOut = $result.StdOut
    SandboxesLeft = $left
} | ConvertTo-Json -Compress
'@

    function Get-NuspecField([string] $Nupkg) {
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $zip = [IO.Compression.ZipFile]::OpenRead($Nupkg)
        try {
            $entry = $zip.Entries | Where-Object FullName -like '*.nuspec'
            $reader = [IO.StreamReader]::new($entry.Open())
            try { [xml] $nuspec = $reader.ReadToEnd() } finally { $reader.Dispose() }
        } finally { $zip.Dispose() }
        @($nuspec.package.metadata.ChildNodes | ForEach-Object { "$($_.LocalName)=$($_.InnerText)" })
    }
}

AfterAll {
    if ($script:work -and (Test-Path $script:work)) { Remove-Item -Recurse -Force $script:work }
}

Describe 'The Gallery package' -Skip:([bool]$script:skipReason) {
    It 'has the version of Directory.Build.props in the built manifest and both assemblies' {
        $script:propsVersion | Should -Match '^\d+\.\d+\.\d+$'
        $manifest = Import-PowerShellDataFile (Join-Path $script:moduleFolder 'Sandbox.psd1')
        $manifest.ModuleVersion | Should -Be $script:propsVersion
        foreach ($assembly in 'Sandbox.Cmdlets.dll', 'Sandbox.Engine.dll') {
            $path = Join-Path $script:moduleFolder $assembly
            [Reflection.AssemblyName]::GetAssemblyName($path).Version | Should -Be ([version]"$script:propsVersion.0")
            [Diagnostics.FileVersionInfo]::GetVersionInfo($path).ProductVersion | Should -BeLike "$script:propsVersion*"
        }
    }

    It 'has the Gallery metadata in the built manifest, and no empty URI' {
        $manifest = Import-PowerShellDataFile (Join-Path $script:moduleFolder 'Sandbox.psd1')
        $manifest.CompatiblePSEditions | Should -Be @('Core')
        $manifest.PowerShellVersion | Should -Be '7.4'
        $psData = $manifest.PrivateData.PSData
        $psData.Tags | Should -Contain 'Linux'
        $psData.ReleaseNotes | Should -Not -BeNullOrEmpty
        # Publish-PSResource refuses a manifest whose ProjectUri is '' ("ProjectUrl cannot be empty").
        foreach ($key in 'ProjectUri', 'LicenseUri', 'IconUri') {
            if ($psData.ContainsKey($key)) { $psData[$key] | Should -Not -BeNullOrEmpty -Because "$key is left out when not set" }
        }
        Test-Path (Join-Path $script:moduleFolder 'LICENSE') | Should -BeTrue
    }

    It 'publishes with Publish-PSResource, installs with Install-PSResource and runs a command after Import-Module by name' {
        $root = Join-Path $script:work 'published'
        $repository = Join-Path $root 'repository'
        $null = New-Item -ItemType Directory -Force -Path $repository
        $script = "`$repository = '$repository'; `$tree = '$(Join-Path $script:work 'tree')'`n" + @'
$ErrorActionPreference = 'Stop'
Register-PSResourceRepository -Name PublishTarget -Uri $repository -Trusted
Publish-PSResource -Path $env:SANDBOX_MODULE_FOLDER -Repository PublishTarget
Unregister-PSResourceRepository -Name PublishTarget
'@ + "`n" + $script:installAndRun
        $run = Invoke-IsolatedPwsh -Root $root -Script $script -Variable "SANDBOX_MODULE_FOLDER=$script:moduleFolder"

        @(Get-ChildItem $repository -Filter '*.nupkg').Name | Should -Be "Sandbox.$script:propsVersion.nupkg"
        $run.ModuleBase | Should -BeLike "$root/home/.local/share/powershell/Modules/Sandbox/*"
        $run.Version | Should -Be $script:propsVersion
        $run.Files | Should -Contain 'LICENSE'
        $run.Files | Should -Contain 'en-US/Sandbox.Cmdlets.dll-Help.xml'
        $run.ExitCode | Should -Be 0
        $run.StdOut | Should -Be "installed from the package`n"
        $run.SandboxesLeft | Should -Be 0
    }

    It 'makes with dotnet pack the package Compress-PSResource makes, and it installs and runs' -Skip:(-not (Get-Command dotnet -ErrorAction SilentlyContinue)) {
        $root = Join-Path $script:work 'packed'
        $repository = Join-Path $root 'repository'
        $null = New-Item -ItemType Directory -Force -Path $repository
        # dotnet and PSResourceGet (NuGet inside) run from the temporary folder, so that nothing they
        # might write relative to their working folder lands in the repository.
        Push-Location $root
        try {
            $packLog = & dotnet pack (Join-Path $script:repoRoot 'build/Package.csproj') -c Release -o $repository 2>&1
            $packExit = $LASTEXITCODE
        } finally { Pop-Location }
        $packExit | Should -Be 0 -Because ($packLog | Out-String)
        $nupkg = Join-Path $repository "Sandbox.$script:propsVersion.nupkg"
        Test-Path $nupkg | Should -BeTrue

        # What PSResourceGet itself would pack from the same folder: the same metadata.
        $compressed = Join-Path $root 'compressed'
        $null = New-Item -ItemType Directory -Path $compressed
        Push-Location $root
        try { Compress-PSResource -Path $script:moduleFolder -DestinationPath $compressed } finally { Pop-Location }
        Get-NuspecField $nupkg | Should -Be @(Get-NuspecField (Join-Path $compressed "Sandbox.$script:propsVersion.nupkg"))

        $script = "`$repository = '$repository'; `$tree = '$(Join-Path $script:work 'tree')'`n" + $script:installAndRun
        $run = Invoke-IsolatedPwsh -Root $root -Script $script
        $run.ModuleBase | Should -BeLike "$root/home/.local/share/powershell/Modules/Sandbox/*"
        $run.Version | Should -Be $script:propsVersion
        $run.ExitCode | Should -Be 0
        $run.StdOut | Should -Be "installed from the package`n"
    }
}

Describe 'The manifest stamp (build/ModuleManifest.targets)' -Skip:([bool]$script:skipReason -or -not (Get-Command dotnet -ErrorAction SilentlyContinue)) {
    BeforeAll {
        # The stamp target alone, over the repository's template, writing to a temporary folder.
        $script:stampRoot = Join-Path $script:work 'stamp'
        $null = New-Item -ItemType Directory -Force -Path $script:stampRoot
        $script:stampProject = Join-Path $script:stampRoot 'stamp.proj'
        Set-Content -Path $script:stampProject -Value @"
<Project>
  <PropertyGroup><RepoRoot>$script:repoRoot/</RepoRoot></PropertyGroup>
  <Import Project="$script:repoRoot/build/ModuleManifest.targets" />
  <Target Name="Build" />
  <Target Name="LayoutModuleFolder" />
</Project>
"@
        function Invoke-Stamp([string] $Name, [string[]] $Property) {
            $out = Join-Path $script:stampRoot "$Name/"
            Push-Location $script:stampRoot
            try {
                $log = & dotnet msbuild $script:stampProject -nologo -t:StampModuleManifest "-p:OutDir=$out" @($Property | ForEach-Object { "-p:$_" }) 2>&1
                $exitCode = $LASTEXITCODE
            } finally { Pop-Location }
            [pscustomobject]@{ ExitCode = $exitCode; Log = ($log | Out-String); Manifest = Join-Path $out 'Sandbox.psd1' }
        }
    }

    It 'writes the version, prerelease, set URIs and release notes with quotes of every kind intact' {
        $notes = "- Quotes: it's, it" + [char]0x2019 + "s, " + [char]0x2018 + "x" + [char]0x201B + "`n- Not code: `$(Get-Date) @' '@ `"`"`n- Last line"
        $changelog = Join-Path $script:stampRoot 'CHANGELOG.md'
        Set-Content -Path $changelog -Value "# Changes`n`n## [1.2.3-beta1] - soon`n`n$notes`n`n## 1.2.2`n`n- older`n"
        $run = Invoke-Stamp 'quotes' 'VersionPrefix=1.2.3', 'VersionSuffix=beta1', "SandboxReleaseNotesFile=$changelog",
            'SandboxProjectUri=https://example.invalid/sandbox', 'SandboxTags=One%3BTwo'
        $run.ExitCode | Should -Be 0 -Because $run.Log
        $manifest = Import-PowerShellDataFile $run.Manifest
        $manifest.ModuleVersion | Should -Be '1.2.3'
        $manifest.PrivateData.PSData.Prerelease | Should -Be 'beta1'
        $manifest.PrivateData.PSData.ReleaseNotes | Should -BeExactly $notes
        $manifest.PrivateData.PSData.ProjectUri | Should -Be 'https://example.invalid/sandbox'
        $manifest.PrivateData.PSData.Tags | Should -Be @('One', 'Two')
        $manifest.PrivateData.PSData.ContainsKey('LicenseUri') | Should -BeFalse
        $manifest.CmdletsToExport | Should -Contain 'Invoke-SandboxCommand'
    }

    It 'fails the build when the changelog has no section for the version' {
        $changelog = Join-Path $script:stampRoot 'CHANGELOG-old.md'
        Set-Content -Path $changelog -Value "## 1.0.0`n`n- old`n"
        $run = Invoke-Stamp 'nosection' 'VersionPrefix=9.9.9', "SandboxReleaseNotesFile=$changelog"
        $run.ExitCode | Should -Not -Be 0
        $run.Log | Should -Match "SBXBUILD1.*has no section '## 9\.9\.9'"
        Test-Path $run.Manifest | Should -BeFalse
    }

    It 'refuses a version the Gallery would refuse' {
        (Invoke-Stamp 'badprefix' 'VersionPrefix=1.2').Log | Should -Match 'SBXBUILD1.*MAJOR\.MINOR\.PATCH'
        (Invoke-Stamp 'badsuffix' 'VersionPrefix=1.2.3', 'VersionSuffix=beta.1').Log | Should -Match 'SBXBUILD1.*letters and digits only'
    }
}
