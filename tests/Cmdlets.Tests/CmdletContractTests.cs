using System.Reflection;
using System.Xml.Linq;
using Xunit;

namespace Sandbox.Commands.Tests;

/// <summary>
/// DESIGN's cmdlet table as executable contracts, checked against the built module: every cmdlet,
/// its parameters and parameter sets, pipeline binding, output types, ShouldProcess, and a manifest
/// that exports exactly what is compiled.
/// </summary>
public sealed class CmdletContractTests : IClassFixture<ModuleMetadataFixture>
{
    private readonly ModuleMetadata _module;

    public CmdletContractTests(ModuleMetadataFixture fixture) => _module = fixture.Module;

    /// <summary>Cmdlet → parameters it must have (each "Name" or "Name@Set" when it belongs to one set).</summary>
    public static TheoryData<string, string[], string[]> Contracts => new()
    {
        { "New-SandboxImage", new[] { "Name", "Suite@Build", "Mirror@Build", "Variant@Build", "Include@Build", "Components@Build", "Architecture@Build", "Mode@Build", "Path@Import", "Force" }, new[] { "SandboxImage" } },
        { "Get-SandboxImage", new[] { "Name" }, new[] { "SandboxImage" } },
        { "Remove-SandboxImage", new[] { "Name", "Force" }, Array.Empty<string>() },
        { "Export-SandboxImage", new[] { "Name", "Path", "Force" }, new[] { "FileInfo" } },
        { "Enter-Sandbox", new[] { "Image@Image", "Sandbox@Sandbox", "Provider@Image", "Name@Image", "Bind@Image", "ReadOnlyBind@Image", "Network@Image", "Environment@Image", "Shell@Image", "Keep@Image", "Boot@Image" }, new[] { "SandboxInfo" } },
        { "Invoke-SandboxCommand", new[] { "Sandbox@Sandbox", "Image@Image", "Provider@Image", "Command", "InputObject", "WorkingDirectory", "Environment", "User", "TimeoutSec", "Check", "Stream" }, new[] { "SandboxCommandResult" } },
        { "Get-SandboxStat", new[] { "Sandbox", "Changes" }, new[] { "SandboxStat", "SandboxChange" } },
        { "Get-Sandbox", new[] { "Name@Name", "Id@Id" }, new[] { "SandboxInfo" } },
        { "Remove-Sandbox", new[] { "Sandbox@Sandbox", "Name@Name", "Stale@Stale" }, Array.Empty<string>() },
        { "Get-SandboxProvider", new[] { "Name" }, new[] { "SandboxProviderInfo" } },
        { "Copy-SandboxItem", new[] { "Sandbox", "Path", "Destination", "FromSandbox", "PassThru" }, new[] { "FileSystemInfo" } },
    };

    [Theory]
    [MemberData(nameof(Contracts))]
    public void Cmdlet_has_its_parameters_sets_and_output_types(string cmdlet, string[] parameters, string[] outputTypes)
    {
        Assert.True(_module.CmdletTypes.TryGetValue(cmdlet, out var type), $"{cmdlet} is compiled");
        var actual = ParametersOf(type!);
        foreach (var expected in parameters)
        {
            var (name, set) = expected.Contains('@') ? (expected.Split('@')[0], expected.Split('@')[1]) : (expected, null);
            Assert.True(actual.ContainsKey(name), $"{cmdlet} has -{name}");
            if (set is not null) Assert.Contains(set, actual[name].Select(p => p.Set));
        }
        var declared = ModuleMetadata.Attributes(type!, "OutputTypeAttribute")
            .SelectMany(a => (IEnumerable<CustomAttributeTypedArgument>)a.ConstructorArguments[0].Value!)
            .Select(arg => ((Type)arg.Value!).Name).ToList();
        foreach (var output in outputTypes) Assert.Contains(output, declared);
        Assert.NotEmpty(declared); // Remove-* declare void explicitly
    }

    [Fact]
    public void New_and_Remove_cmdlets_support_WhatIf_and_Confirm()
    {
        var changing = _module.CmdletTypes.Where(c => c.Key.Split('-')[0] is "New" or "Remove" or "Copy" or "Export").ToList();
        foreach (var expected in new[] { "New-SandboxImage", "Remove-SandboxImage", "Remove-Sandbox", "Copy-SandboxItem", "Export-SandboxImage" })
            Assert.Contains(expected, changing.Select(c => c.Key));
        foreach (var (name, type) in changing)
        {
            var cmdlet = ModuleMetadata.Attribute(type, "CmdletAttribute")!;
            Assert.True(ModuleMetadata.Named(cmdlet, "SupportsShouldProcess") is true, $"{name} supports ShouldProcess");
        }
    }

    [Fact]
    public void Name_and_Id_parameters_bind_from_the_pipeline_by_property_name()
    {
        // So deserialized objects from jobs and remoting (which keep only properties) still bind.
        foreach (var (cmdlet, type) in _module.CmdletTypes)
        {
            foreach (var (name, declarations) in ParametersOf(type).Where(p => p.Key is "Name" or "Id"))
            {
                if (cmdlet is "Enter-Sandbox") continue; // -Name there names the new sandbox
                Assert.True(declarations.All(d => d.ByPropertyName), $"{cmdlet} -{name} binds by property name");
            }
        }
    }

    [Fact]
    public void Sandbox_parameters_take_objects_from_the_pipeline_and_accept_names()
    {
        foreach (var (cmdlet, type) in _module.CmdletTypes)
        {
            var property = type.GetProperty("Sandbox");
            if (property is null) continue;
            Assert.True(ParametersOf(type)["Sandbox"].All(d => d.ByValue), $"{cmdlet} -Sandbox binds by value");
            if (cmdlet != "Remove-Sandbox")
                Assert.NotNull(ModuleMetadata.Attribute(property, "SandboxTransformationAttribute"));
        }
    }

    [Fact]
    public void Manifest_exports_exactly_the_compiled_cmdlets()
    {
        Assert.Equal(_module.CmdletTypes.Keys.OrderBy(n => n), _module.ManifestCmdlets().OrderBy(n => n));
    }

    [Fact]
    public void Module_folder_has_manifest_assemblies_and_format_views_for_every_result_type()
    {
        foreach (var file in new[] { "Sandbox.psd1", "Sandbox.psm1", "Sandbox.Cmdlets.dll", "Sandbox.Engine.dll", "Sandbox.Format.ps1xml" })
            Assert.True(File.Exists(Path.Combine(_module.ModuleFolder, file)), $"out/Sandbox/{file}");

        var format = XDocument.Load(Path.Combine(_module.ModuleFolder, "Sandbox.Format.ps1xml"));
        var viewed = format.Descendants("TypeName").Select(t => t.Value).ToList();
        foreach (var type in new[] { "SandboxInfo", "SandboxImage", "SandboxCommandResult", "SandboxStat", "SandboxProviderInfo", "SandboxChange" })
        {
            Assert.Contains($"Sandbox.{type}", viewed);
            Assert.NotNull(_module.Engine.GetType($"Sandbox.{type}"));
        }
        // Every property a view names exists on its type.
        foreach (var view in format.Descendants("View"))
        {
            var type = _module.Engine.GetType(view.Descendants("TypeName").Single().Value)!;
            foreach (var property in view.Descendants("PropertyName").Select(p => p.Value))
                Assert.True(type.GetProperty(property) is not null, $"{type.Name}.{property} exists");
        }
    }

    [Fact]
    public void Every_cmdlet_and_parameter_has_help_with_an_example()
    {
        XNamespace command = "http://schemas.microsoft.com/maml/dev/command/2004/10", maml = "http://schemas.microsoft.com/maml/2004/10";
        var help = XDocument.Load(Path.Combine(_module.ModuleFolder, "en-US", "Sandbox.Cmdlets.dll-Help.xml"));
        var documented = help.Root!.Elements(command + "command").ToDictionary(
            c => c.Element(command + "details")!.Element(command + "name")!.Value);
        foreach (var (name, type) in _module.CmdletTypes)
        {
            Assert.True(documented.TryGetValue(name, out var page), $"{name} has a help page (docs/help/{name}.md)");
            Assert.NotEmpty(page!.Descendants(command + "example"));
            var parameters = page.Descendants(command + "parameter").Select(p => p.Element(maml + "name")!.Value).ToList();
            foreach (var parameter in ParametersOf(type).Keys)
                Assert.True(parameters.Contains(parameter), $"{name} -{parameter} is documented");
        }
    }

    [Fact]
    public void Every_cmdlet_uses_an_approved_verb()
    {
        var approved = new[] { "New", "Get", "Remove", "Enter", "Invoke", "Copy", "Export", "Import" };
        Assert.All(_module.CmdletTypes.Keys, name => Assert.Contains(name.Split('-')[0], approved));
    }

    private sealed record Declaration(string? Set, bool Mandatory, bool ByValue, bool ByPropertyName);

    private static Dictionary<string, List<Declaration>> ParametersOf(Type cmdlet) =>
        cmdlet.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => (p.Name, declarations: ModuleMetadata.Attributes(p, "ParameterAttribute").Select(a => new Declaration(
                ModuleMetadata.Named(a, "ParameterSetName") as string,
                ModuleMetadata.Named(a, "Mandatory") is true,
                ModuleMetadata.Named(a, "ValueFromPipeline") is true,
                ModuleMetadata.Named(a, "ValueFromPipelineByPropertyName") is true)).ToList()))
            .Where(p => p.declarations.Count > 0)
            .ToDictionary(p => p.Name, p => p.declarations);
}

public sealed class ModuleMetadataFixture : IDisposable
{
    public ModuleMetadata Module { get; } = new();
    public void Dispose() => Module.Dispose();
}
