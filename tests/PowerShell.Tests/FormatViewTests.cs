using System.Xml.Linq;
using Sandbox.PowerShell.Tests.Support;
using Xunit;

namespace Sandbox.PowerShell.Tests;

/// <summary>
/// Each result type as pwsh shows it at the prompt: Out-Host picks the table view of
/// Sandbox.Format.ps1xml, so the header row is that view's labels and the row holds the values.
/// </summary>
[Collection(ModuleSessionCollection.Name)]
public sealed class FormatViewTests(ModuleSession session)
{
    private readonly PowerShellSession _shell = session.Shell;

    public static TheoryData<string, string, string> Producers() => new()
    {
        // type name, script producing one object of it (with $args[0] = a fresh sandbox), text expected in its row
        { "Sandbox.SandboxInfo", "$args[0]", "view-target" },
        { "Sandbox.SandboxImage", "Get-SandboxImage -Name busybox", "busybox" },
        { "Sandbox.SandboxProviderInfo", "Get-SandboxProvider -Name Bubblewrap", "Bubblewrap" },
        { "Sandbox.SandboxCommandResult", "Invoke-SandboxCommand -Sandbox $args[0] -Command sh, -c, 'echo shown; exit 4'", "shown" },
        { "Sandbox.SandboxStat", "$null = Invoke-SandboxCommand -Sandbox $args[0] -Command true; Get-SandboxStat -Sandbox $args[0]", "view-target" },
        { "Sandbox.SandboxChange", "$null = Invoke-SandboxCommand -Sandbox $args[0] -Command touch, /data/new-file; Get-SandboxStat -Sandbox $args[0] -Changes", "/data/new-file" },
    };

    [Theory]
    [MemberData(nameof(Producers))]
    public void Out_Host_renders_the_table_view_of_the_format_file(string typeName, string producer, string expectedInRow)
    {
        var sandbox = _shell.Ok("Enter-Sandbox -Image busybox -Provider Bubblewrap -Name view-target").Single();
        try
        {
            var produced = _shell.Ok(producer, sandbox);
            Assert.Equal(typeName, produced.First().TypeNames[0]);
            session.Shell.Host.TakeText();

            _shell.Ok("$args[0] | Out-Host", produced.First());
            var lines = session.Shell.Host.TakeText().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

            var header = lines.First();
            var labels = TableLabels(typeName);
            Assert.True(labels.All(header.Contains), $"header '{header}' lacks some of {string.Join(", ", labels)}");
            Assert.StartsWith("-", lines[1]);
            Assert.Contains(expectedInRow, lines[2]);
        }
        finally
        {
            _shell.Ok("$args[0] | Remove-Sandbox", sandbox);
        }
    }

    private static IReadOnlyList<string> TableLabels(string typeName)
    {
        var formats = XDocument.Load(Path.Combine(Path.GetDirectoryName(PowerShellSession.ModuleManifest)!, "Sandbox.Format.ps1xml"));
        var view = formats.Descendants("View").Single(v => v.Element("ViewSelectedBy")!.Element("TypeName")!.Value == typeName && v.Element("TableControl") is not null);
        return view.Descendants("TableColumnHeader").Select(h => h.Element("Label")!.Value).ToList();
    }
}
