# docs/help against the cmdlets through PlatyPS 1.x's own comparer: for each page, Compare-CommandHelp
# of what PlatyPS reads from the real cmdlet (New-CommandHelp) with what it reads from the page
# (Import-MarkdownCommandHelp), and any difference in what PowerShell binds by is drift: syntax and
# parameter sets, parameter names, types, positions, mandatory, pipeline input, aliases, wildcards,
# and the input and output types. Prose (descriptions, examples, default-value text) is the page's own.
#
# The real cmdlet's help is taken through markdown and back (Export- then Import-MarkdownCommandHelp)
# before comparing, so both sides carry what the markdown schema can say and no more: a syntax block
# numbers positional parameters by their order, for instance, and cannot say "position 1" when the
# set has no position 0 (Invoke-SandboxCommand -Image); the yaml block of each parameter, compared
# as well, keeps the real positions. Cmdlets.Help.Tests.ps1 checks the same pages parameter by
# parameter; this file asks PlatyPS's comparer, and shows that it catches a planted drift.

BeforeDiscovery {
    $script:skipReason = $null
    if (-not (Get-Module -ListAvailable Microsoft.PowerShell.PlatyPS | Where-Object Version -ge '1.0.0')) {
        $script:skipReason = 'Microsoft.PowerShell.PlatyPS 1.x is not installed (Install-PSResource Microsoft.PowerShell.PlatyPS).'
        Write-Host "SKIPPED: Help.Drift.Tests.ps1: $script:skipReason"
    }
    $script:pages = @(Get-ChildItem (Join-Path $PSScriptRoot '../../docs/help') -Filter '*.md' | ForEach-Object { @{ Name = $_.BaseName; Path = $_.FullName } })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../out/Sandbox/Sandbox.psd1') -Force
    if (-not $script:skipReason) { Import-Module Microsoft.PowerShell.PlatyPS }
    $script:work = Join-Path ([IO.Path]::GetTempPath()) "sandbox-help-drift-$([guid]::NewGuid().ToString('N'))"
    $null = New-Item -ItemType Directory -Path $script:work

    # What the markdown schema can say about the real cmdlet: its help, to markdown and back.
    function Get-RealCommandHelp([string] $Name) {
        $folder = Join-Path $script:work "real-$Name"
        $file = Export-MarkdownCommandHelp -CommandHelp (New-CommandHelp (Get-Command $Name)) -OutputFolder $folder -Force
        Import-MarkdownCommandHelp -Path $file.FullName
    }

    # Compare-CommandHelp's "D" (different) lines that are about binding, not prose. A list of a
    # different size is reported as such (and its items are then not compared one by one).
    function Get-HelpDrift($Real, $Documented) {
        $binding = '^CommandHelp\.(Syntax\b|Parameters\b(?!\.(Description|DefaultValue|HelpMessage)\b)|Inputs\b(?!\.Description)|Outputs\b(?!\.Description)|Title\b|ModuleName\b)'
        @(Compare-CommandHelp -ReferenceCommandHelp $Real -DifferenceCommandHelp $Documented |
            ForEach-Object { "$_".Trim() } |
            Where-Object { $_ -match '^D\s' } |
            ForEach-Object { ($_ -replace '^D\s+', '') } |
            Where-Object { $_ -match $binding })
    }
}

AfterAll {
    if ($script:work -and (Test-Path $script:work)) { Remove-Item -Recurse -Force $script:work }
}

Describe 'docs/help through PlatyPS Compare-CommandHelp' -Skip:([bool]$script:skipReason) {
    It '<Name>.md says what the cmdlet binds by' -ForEach $script:pages {
        $documented = Import-MarkdownCommandHelp -Path $Path
        @($documented.Diagnostics.Messages | Where-Object Severity -eq 'Error') | Should -BeNullOrEmpty
        Get-HelpDrift (Get-RealCommandHelp $Name) $documented | Should -BeNullOrEmpty
    }

    It 'reports a page that drifted from its cmdlet' {
        # The same page with what drift looks like: a pipeline input gone, a type changed, an
        # output renamed, a parameter dropped.
        $page = Get-Content -Raw (Join-Path $PSScriptRoot '../../docs/help/Get-SandboxStat.md')
        $drifted = @(
            $page -replace 'ValueFromPipeline: true', 'ValueFromPipeline: false'
            $page -replace 'Type: Sandbox\.SandboxInfo', 'Type: System.String'
            $page -replace '### Sandbox\.SandboxStat', '### Sandbox.SandboxStatistics'
            $page -replace '(?s)### -Changes.*?(?=### -Sandbox)', ''
        )
        $real = Get-RealCommandHelp Get-SandboxStat
        for ($i = 0; $i -lt $drifted.Count; $i++) {
            $drifted[$i] | Should -Not -Be $page -Because "mutation $i must change the page"
            $file = Join-Path $script:work "drifted-$i/Get-SandboxStat.md"
            $null = New-Item -ItemType Directory -Force -Path (Split-Path $file)
            Set-Content -Path $file -Value $drifted[$i] -NoNewline
            Get-HelpDrift $real (Import-MarkdownCommandHelp -Path $file) | Should -Not -BeNullOrEmpty -Because "mutation $i is drift"
        }
    }
}
