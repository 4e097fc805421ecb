using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Sandbox.Commands.Tests;

/// <summary>
/// The built module folder (out/Sandbox) read as metadata only: the cmdlet assembly is never loaded
/// for execution (there is no pwsh here), its attributes are read through MetadataLoadContext.
/// </summary>
public sealed class ModuleMetadata : IDisposable
{
    private readonly MetadataLoadContext _context;

    public ModuleMetadata()
    {
        ModuleFolder = Path.Combine(RepoRoot(), "out", "Sandbox");
        var searchPaths = Directory.GetFiles(RuntimeEnvironment.GetRuntimeDirectory(), "*.dll")
            .Concat(Directory.GetFiles(ModuleFolder, "*.dll"))
            .Append(Path.Combine(AppContext.BaseDirectory, "System.Management.Automation.dll"));
        _context = new MetadataLoadContext(new PathAssemblyResolver(searchPaths));
        Cmdlets = _context.LoadFromAssemblyPath(Path.Combine(ModuleFolder, "Sandbox.Cmdlets.dll"));
        Engine = _context.LoadFromAssemblyPath(Path.Combine(ModuleFolder, "Sandbox.Engine.dll"));
    }

    public string ModuleFolder { get; }
    public Assembly Cmdlets { get; }
    public Assembly Engine { get; }

    /// <summary>Every cmdlet class, by its Verb-Noun name.</summary>
    public IReadOnlyDictionary<string, Type> CmdletTypes => Cmdlets.GetTypes()
        .Select(type => (type, attribute: Attribute(type, "CmdletAttribute")))
        .Where(pair => pair.attribute is not null)
        .ToDictionary(pair => $"{pair.attribute!.ConstructorArguments[0].Value}-{pair.attribute.ConstructorArguments[1].Value}",
            pair => pair.type);

    public static CustomAttributeData? Attribute(MemberInfo member, string name) =>
        member.GetCustomAttributesData().FirstOrDefault(a => a.AttributeType.Name == name);

    public static IEnumerable<CustomAttributeData> Attributes(MemberInfo member, string name) =>
        member.GetCustomAttributesData().Where(a => a.AttributeType.Name == name);

    public static object? Named(CustomAttributeData attribute, string name) =>
        attribute.NamedArguments.FirstOrDefault(a => a.MemberName == name).TypedValue.Value;

    /// <summary>The cmdlets the manifest exports, read from its CmdletsToExport list.</summary>
    public IReadOnlyList<string> ManifestCmdlets()
    {
        var manifest = File.ReadAllText(Path.Combine(ModuleFolder, "Sandbox.psd1"));
        var list = Regex.Match(manifest, @"CmdletsToExport\s*=\s*@\((?<items>[^)]*)\)").Groups["items"].Value;
        return Regex.Matches(list, @"'([^']+)'").Select(m => m.Groups[1].Value).ToList();
    }

    public static string RepoRoot()
    {
        var folder = new DirectoryInfo(AppContext.BaseDirectory);
        while (folder is not null && !File.Exists(Path.Combine(folder.FullName, "Sandbox.sln"))) folder = folder.Parent;
        return folder?.FullName ?? throw new InvalidOperationException("Sandbox.sln not found above the test folder.");
    }

    public void Dispose() => _context.Dispose();
}
