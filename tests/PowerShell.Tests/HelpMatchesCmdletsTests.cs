using Sandbox.PowerShell.Tests.Support;
using Xunit;

namespace Sandbox.PowerShell.Tests;

/// <summary>
/// Get-Help, as compiled from docs/help at build, against the cmdlets' real metadata (Get-Command):
/// every parameter, its type, mandatory, position, pipeline input and wildcards, one syntax per
/// parameter set with that set's own attributes, and examples that parse. A page that drifts from
/// its cmdlet (a renamed, added or re-positioned parameter) fails here with what differs.
/// </summary>
[Collection(ModuleSessionCollection.Name)]
public sealed class HelpMatchesCmdletsTests(ModuleSession session)
{
    private readonly PowerShellSession _shell = session.Shell;

    // Lists every disagreement between Get-Help and Get-Command for the module's cmdlets.
    private const string CompareHelpWithMetadata = """
        $common = [System.Management.Automation.PSCmdlet]::CommonParameters
        # Only the core cmdlets exist in this hosted runspace: no Sort-Object or Select-Object.
        function Key($names) { $sorted = [string[]]@($names); [Array]::Sort($sorted, [StringComparer]::OrdinalIgnoreCase); $sorted -join ',' }
        function Pipeline($byValue, $byName) {
            if ($byValue -and $byName) { 'True (ByValue, ByPropertyName)' } elseif ($byValue) { 'True (ByValue)' }
            elseif ($byName) { 'True (ByPropertyName)' } else { 'False' }
        }
        foreach ($cmd in Get-Command -Module Sandbox -CommandType Cmdlet) {
            $name = $cmd.Name
            $help = Get-Help $name -Full
            $documented = @{}
            foreach ($p in @($help.parameters.parameter)) { if ($p) { $documented[$p.name] = $p } }
            $real = @($cmd.Parameters.Values | Where-Object { $common -notcontains $_.Name })
            foreach ($p in $real) {
                $h = $documented[$p.Name]
                if (-not $h) { "$name -$($p.Name): not documented"; continue }
                $sets = @($p.ParameterSets.Values)
                $required = [bool]($sets | Where-Object IsMandatory)
                if (($h.required -eq 'true') -ne $required) { "$name -$($p.Name): help says required $($h.required), the cmdlet $required" }
                $positions = @($sets | Where-Object Position -ge 0 | ForEach-Object { "$($_.Position)" })
                if ($positions.Count -eq 0 -and $h.position -ne 'named') { "$name -$($p.Name): help says position $($h.position), the cmdlet named" }
                if ($positions.Count -gt 0 -and $positions -notcontains $h.position) { "$name -$($p.Name): help says position $($h.position), the cmdlet $($positions -join '/')" }
                $pipeline = Pipeline ([bool]($sets | Where-Object ValueFromPipeline)) ([bool]($sets | Where-Object ValueFromPipelineByPropertyName))
                if ($h.pipelineInput -ne $pipeline) { "$name -$($p.Name): help says pipeline input $($h.pipelineInput), the cmdlet $pipeline" }
                if ($h.type.name -ne $p.ParameterType.FullName) { "$name -$($p.Name): help says type $($h.type.name), the cmdlet $($p.ParameterType.FullName)" }
                $wildcards = [bool]($p.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
                if (($h.globbing -eq 'true') -ne $wildcards) { "$name -$($p.Name): help says wildcards $($h.globbing), the cmdlet $wildcards" }
            }
            foreach ($extra in $documented.Keys | Where-Object { $real.Name -notcontains $_ }) { "$name -${extra}: documented, but the cmdlet has no such parameter" }

            $items = @($help.syntax.syntaxItem | Where-Object { $_ })
            if ($items.Count -ne $cmd.ParameterSets.Count) { "${name}: help has $($items.Count) syntaxes, the cmdlet $($cmd.ParameterSets.Count) parameter sets" }
            foreach ($set in $cmd.ParameterSets) {
                $inSet = @($set.Parameters | Where-Object { $common -notcontains $_.Name })
                $key = Key $inSet.Name
                $item = @($items | Where-Object { (Key @($_.parameter).name) -eq $key })[0]
                if (-not $item) { "${name}: no syntax for the parameter set $($set.Name) ($key)"; continue }
                foreach ($p in $inSet) {
                    $h = @($item.parameter) | Where-Object name -eq $p.Name
                    if (($h.required -eq 'true') -ne $p.IsMandatory) { "$name set $($set.Name) -$($p.Name): syntax says required $($h.required), the cmdlet $($p.IsMandatory)" }
                    $position = if ($p.Position -ge 0) { "$($p.Position)" } else { 'named' }
                    if ($h.position -ne $position) { "$name set $($set.Name) -$($p.Name): syntax says position $($h.position), the cmdlet $position" }
                    $pipeline = Pipeline $p.ValueFromPipeline $p.ValueFromPipelineByPropertyName
                    if ($h.pipelineInput -ne $pipeline) { "$name set $($set.Name) -$($p.Name): syntax says pipeline input $($h.pipelineInput), the cmdlet $pipeline" }
                }
            }
        }
        """;

    [Fact]
    public void Help_matches_the_cmdlets_metadata()
    {
        var problems = _shell.Ok(CompareHelpWithMetadata).Select(p => p.ToString()).ToList();
        Assert.True(problems.Count == 0, "docs/help disagrees with the cmdlets:\n" + string.Join("\n", problems));
    }

    [Fact]
    public void Help_covers_every_cmdlet_with_syntax_and_parameters()
    {
        var counts = _shell.Ok("""
            foreach ($cmd in Get-Command -Module Sandbox -CommandType Cmdlet) {
                $help = Get-Help $cmd.Name -Full
                '{0} {1} {2}' -f $cmd.Name, @($help.syntax.syntaxItem | Where-Object { $_ }).Count, @($help.parameters.parameter | Where-Object { $_ }).Count
            }
            """).Select(o => o.ToString()!.Split(' ')).ToList();
        Assert.Equal(11, counts.Count);
        Assert.All(counts, c => Assert.True(int.Parse(c[1]) > 0 && int.Parse(c[2]) > 0, $"{c[0]}: {c[1]} syntaxes, {c[2]} parameters"));
    }

    [Fact]
    public void Every_help_example_parses()
    {
        var problems = _shell.Ok("""
            foreach ($cmd in Get-Command -Module Sandbox -CommandType Cmdlet) {
                $examples = @((Get-Help $cmd.Name -Full).examples.example | Where-Object { $_ })
                if ($examples.Count -eq 0) { "$($cmd.Name): no example" }
                foreach ($example in $examples) {
                    $errors = $null
                    $null = [System.Management.Automation.Language.Parser]::ParseInput($example.code, [ref]$null, [ref]$errors)
                    foreach ($e in $errors) { "$($cmd.Name) $($example.title.Trim(' -')): $($e.Message) at '$($e.Extent.Text)'" }
                }
            }
            """).Select(p => p.ToString()).ToList();
        Assert.True(problems.Count == 0, "help examples that do not parse:\n" + string.Join("\n", problems));
    }
}
