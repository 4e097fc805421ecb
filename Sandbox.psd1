# The template of the manifest the build ships (out/Sandbox/Sandbox.psd1): the build writes the
# version of Directory.Build.props over ModuleVersion and fills PSData from its properties
# (build/ModuleManifest.targets), so the version is written in one place. Import the built one.
@{
    RootModule           = 'Sandbox.psm1'
    NestedModules        = @('Sandbox.Cmdlets.dll')
    RequiredAssemblies   = @('Sandbox.Cmdlets.dll')
    ModuleVersion        = '0.0.0'
    GUID                 = '5d0f5a7e-3c0b-4b8e-9a55-6e0d2b9a7c11'
    Author               = 'Sandbox developers'
    CompanyName          = 'Sandbox'
    Copyright            = '(c) Sandbox developers. MIT License.'
    Description          = 'Disposable copy-on-write root filesystems for Linux: run commands in a clean system (bubblewrap, systemd-nspawn or fakechroot) and get structured results back.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('Sandbox.Format.ps1xml', 'Sandbox.Trace.Format.ps1xml')
    CmdletsToExport      = @(
        'New-SandboxImage'
        'Get-SandboxImage'
        'Remove-SandboxImage'
        'Export-SandboxImage'
        'Enter-Sandbox'
        'Invoke-SandboxCommand'
        'Get-SandboxStat'
        'Get-Sandbox'
        'Remove-Sandbox'
        'Get-SandboxProvider'
        'Copy-SandboxItem'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{}
    }
}
