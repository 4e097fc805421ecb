using System.Management.Automation.Language;
using System.Management.Automation.Runspaces;
using Sandbox.PowerShell.Tests.Support;
using Xunit;

namespace Sandbox.PowerShell.Tests;

/// <summary>What Import-Module and the files shipped beside the cmdlets look like to PowerShell 7.6 itself.</summary>
[Collection(ModuleSessionCollection.Name)]
public sealed class ModuleImportTests(ModuleSession session)
{
    private readonly PowerShellSession _shell = session.Shell;

    [Fact]
    public void Imports_into_PowerShell_7_with_exactly_the_manifests_cmdlets_and_no_warning()
    {
        Assert.True((int)_shell.Ok("$PSVersionTable.PSVersion.Major").Single().BaseObject >= 7);

        var declared = _shell.Ok("(Test-ModuleManifest $args[0]).ExportedCmdlets.Keys", PowerShellSession.ModuleManifest)
            .Select(o => o.ToString()).Order().ToList();
        var imported = _shell.Ok("Get-Command -Module Sandbox | ForEach-Object Name").Select(o => o.ToString()).Order().ToList();
        Assert.Equal(11, declared.Count);
        Assert.Equal(declared, imported);

        // Re-importing is what a user does after a rebuild; unapproved verbs or a broken format file would warn or fail here.
        var warnings = _shell.Ok("Import-Module $args[0] -Force -WarningVariable w -WarningAction SilentlyContinue; $w.Count",
            PowerShellSession.ModuleManifest);
        Assert.Equal(0, (int)warnings.Single().BaseObject);
    }

    [Fact]
    public void Format_file_is_valid_for_the_PowerShell_formatter()
    {
        var formats = Path.Combine(Path.GetDirectoryName(PowerShellSession.ModuleManifest)!, "Sandbox.Format.ps1xml");
        var table = new FormatTable(new[] { formats }); // throws FormatTableLoadException on any schema error
        Assert.NotNull(table);
    }

    [Fact]
    public void Pester_suite_parses_without_syntax_errors()
    {
        var folder = Path.Combine(Path.GetDirectoryName(PowerShellSession.ModuleManifest)!, "..", "..", "tests", "Pester");
        var scripts = Directory.GetFiles(folder, "*.ps1");
        Assert.NotEmpty(scripts);
        foreach (var script in scripts)
        {
            Parser.ParseFile(script, out _, out var errors);
            Assert.True(errors.Length == 0, $"{script}: {string.Join("; ", errors.Select(e => $"{e.Extent.StartLineNumber}: {e.Message}"))}");
        }
    }

    [Fact]
    public void Get_Help_finds_a_synopsis_an_example_and_every_parameter_for_each_cmdlet()
    {
        var commands = _shell.Ok("Get-Command -Module Sandbox | ForEach-Object Name").Select(o => o.ToString()).ToList();
        foreach (var command in commands)
        {
            var help = _shell.Ok("Get-Help $args[0] -Full", command).Single();
            var synopsis = help.Get<string>("Synopsis")!.Trim();
            Assert.False(synopsis.StartsWith(command, StringComparison.Ordinal), $"{command} has only generated help: '{synopsis}'");
            Assert.True(_shell.Ok("@($args[0].Examples.Example).Count", help).Single().BaseObject is int examples && examples > 0,
                $"{command} has no example");

            var documented = _shell.Ok("$args[0].Parameters.Parameter | Where-Object { $_.Description } | ForEach-Object Name", help)
                .Select(o => o.ToString()).ToHashSet(StringComparer.OrdinalIgnoreCase);
            var declared = _shell.Ok(
                "(Get-Command $args[0]).Parameters.Keys | Where-Object { $_ -notin [System.Management.Automation.PSCmdlet]::CommonParameters -and $_ -notin [System.Management.Automation.PSCmdlet]::OptionalCommonParameters }",
                command).Select(o => o.ToString());
            Assert.All(declared, parameter => Assert.True(documented.Contains(parameter), $"{command} -{parameter} has no description in Get-Help"));
        }
    }

    [Fact]
    public void Tab_completion_offers_image_and_sandbox_names()
    {
        var sandbox = _shell.Ok("Enter-Sandbox -Image $args[0] -Name completion-target", ModuleSession.Image).Single();
        try
        {
            Assert.Contains(ModuleSession.Image, Complete("Enter-Sandbox -Image bus"));
            Assert.Contains("completion-target", Complete("Invoke-SandboxCommand -Sandbox completion-t"));
            Assert.Contains("Bubblewrap", Complete("Enter-Sandbox -Provider Bub"));
        }
        finally
        {
            _shell.Ok("$args[0] | Remove-Sandbox", sandbox);
        }
    }

    private IReadOnlyList<string> Complete(string line) =>
        _shell.Ok("(TabExpansion2 -inputScript $args[0] -cursorColumn $args[0].Length).CompletionMatches | ForEach-Object CompletionText", line)
            .Select(o => o.ToString()).ToList();
}
