# docs/help against the cmdlets, through PlatyPS 1.x itself: each page must import cleanly in its
# schema and say what New-CommandHelp reads from the real cmdlet (parameters, types, sets,
# positions, mandatory, pipeline input, wildcards); every example must parse. The xunit twin,
# HelpMatchesCmdletsTests, checks the compiled MAML (Get-Help) without PlatyPS.

BeforeDiscovery {
    $script:skipReason = $null
    if (-not (Get-Module -ListAvailable Microsoft.PowerShell.PlatyPS | Where-Object Version -ge '1.0.0')) {
        $script:skipReason = 'Microsoft.PowerShell.PlatyPS 1.x is not installed (Install-PSResource Microsoft.PowerShell.PlatyPS).'
        Write-Host "SKIPPED: Cmdlets.Help.Tests.ps1: $script:skipReason"
    }
    $script:pages = @(Get-ChildItem (Join-Path $PSScriptRoot '../../docs/help') -Filter '*.md' | ForEach-Object { @{ Name = $_.BaseName; Path = $_.FullName } })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../out/Sandbox/Sandbox.psd1') -Force
    if (-not $script:skipReason) { Import-Module Microsoft.PowerShell.PlatyPS }

    # One line per parameter and set: what PowerShell binds by.
    function Get-ParameterShape($help) {
        foreach ($parameter in $help.Parameters) {
            foreach ($set in $parameter.ParameterSets) {
                '{0} [{1}] {2} set={3} position={4} required={5} byValue={6} byName={7} remaining={8} wildcards={9}' -f $parameter.Name,
                    $parameter.Type, '', $set.Name, $set.Position, $set.IsRequired, $set.ValueFromPipeline,
                    $set.ValueFromPipelineByPropertyName, $set.ValueFromRemainingArguments, $parameter.SupportsWildcards
            }
        }
    }
}

Describe 'docs/help' -Skip:([bool]$script:skipReason) {
    It 'has a page for every cmdlet of the module' {
        $commands = @((Get-Command -Module Sandbox -CommandType Cmdlet).Name | Sort-Object)
        $pages = @(Get-ChildItem (Join-Path $PSScriptRoot '../../docs/help') -Filter '*.md').BaseName
        @($pages | Sort-Object) | Should -Be $commands
    }

    It '<Name>.md imports in the PlatyPS schema and matches the cmdlet' -ForEach $script:pages {
        $documented = Import-MarkdownCommandHelp -Path $Path
        @($documented.Diagnostics.Messages | Where-Object Severity -eq 'Error') | Should -BeNullOrEmpty
        $real = New-CommandHelp (Get-Command $Name)
        @(Get-ParameterShape $real) | Should -Not -BeNullOrEmpty
        @(Get-ParameterShape $documented | Sort-Object) | Should -Be @(Get-ParameterShape $real | Sort-Object)
        @($documented.Syntax.ParameterSetName | Sort-Object) | Should -Be @($real.Syntax.ParameterSetName | Sort-Object)
    }

    It '<Name>.md has examples that parse' -ForEach $script:pages {
        $text = Get-Content -Raw -Path $Path
        $examples = $text.Substring($text.IndexOf("`n## EXAMPLES"))
        $examples = $examples.Substring(0, $examples.IndexOf("`n## PARAMETERS"))
        $code = @([regex]::Matches($examples, '(?s)```powershell\n(.*?)```') | ForEach-Object { $_.Groups[1].Value })
        $code.Count | Should -BeGreaterThan 0
        foreach ($block in $code) {
            $errors = $null
            $null = [System.Management.Automation.Language.Parser]::ParseInput($block, [ref]$null, [ref]$errors)
            @($errors | ForEach-Object { "$($_.Message) at '$($_.Extent.Text)'" }) | Should -BeNullOrEmpty
        }
    }
}
