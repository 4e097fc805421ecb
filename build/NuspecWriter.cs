// Writes the .nuspec of the Gallery package from the built module manifest (out/Sandbox/Sandbox.psd1),
// with the fields Publish-PSResource (Microsoft.PowerShell.PSResourceGet 1.x) writes for a module:
// id, version (with the prerelease label), authors, owners (CompanyName), description, release
// notes, copyright, tags (PSModule first), and the project, licence and icon URLs when the manifest
// has them. Built by MSBuild's RoslynCodeTaskFactory from build/Package.proj, so `dotnet pack` makes
// the same package without pwsh.
//
// The manifest is the one the build stamped (build/ModuleManifestStamper.cs): its values are
// single-quoted strings and string arrays, which is all this reads.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class WriteModuleNuspec : Task
{
    [Required] public string Manifest { get; set; }
    [Required] public string OutputFile { get; set; }
    /// <summary>The package id: the module's name, that of its manifest file.</summary>
    [Output] public string PackageId { get; set; }
    [Output] public string PackageVersion { get; set; }

    private static readonly XNamespace Nuspec = "http://schemas.microsoft.com/packaging/2011/08/nuspec.xsd";

    public override bool Execute()
    {
        var text = File.ReadAllText(Manifest);
        var strings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (Match m in Regex.Matches(text, @"(?m)^\s*(\w+)\s*=\s*'((?:[^'\u2018\u2019\u201A\u201B]|['\u2018\u2019\u201A\u201B]{2})*)'"))
            strings[m.Groups[1].Value] = Regex.Replace(m.Groups[2].Value, "(['\u2018\u2019\u201A\u201B])['\u2018\u2019\u201A\u201B]", "$1");
        string Get(string key) => strings.TryGetValue(key, out var value) ? value : "";

        foreach (var key in new[] { "ModuleVersion", "Author", "Description" })
            if (Get(key).Length == 0)
            {
                Log.LogError(null, "SBXBUILD2", null, Manifest, 0, 0, 0, 0, $"The manifest has no {key} = '...': the Gallery needs it.");
                return false;
            }
        var tags = new List<string> { "PSModule" };
        var tagList = Regex.Match(text, @"Tags\s*=\s*@\(([^)]*)\)");
        if (tagList.Success) tags.AddRange(Regex.Matches(tagList.Groups[1].Value, "'([^']+)'").Cast<Match>().Select(m => m.Groups[1].Value));

        PackageId = Path.GetFileNameWithoutExtension(Manifest);
        PackageVersion = Get("Prerelease").Length > 0 ? Get("ModuleVersion") + "-" + Get("Prerelease") : Get("ModuleVersion");
        var metadata = new XElement(Nuspec + "metadata",
            new XElement(Nuspec + "id", PackageId),
            new XElement(Nuspec + "version", PackageVersion),
            new XElement(Nuspec + "authors", Get("Author")),
            new XElement(Nuspec + "owners", Get("CompanyName").Length > 0 ? Get("CompanyName") : Get("Author")),
            new XElement(Nuspec + "requireLicenseAcceptance", "false"),
            new XElement(Nuspec + "description", Get("Description")));
        if (Get("ReleaseNotes").Length > 0) metadata.Add(new XElement(Nuspec + "releaseNotes", Get("ReleaseNotes")));
        if (Get("Copyright").Length > 0) metadata.Add(new XElement(Nuspec + "copyright", Get("Copyright")));
        metadata.Add(new XElement(Nuspec + "tags", string.Join(" ", tags.Distinct())));
        if (Get("LicenseUri").Length > 0) metadata.Add(new XElement(Nuspec + "licenseUrl", Get("LicenseUri")));
        if (Get("ProjectUri").Length > 0) metadata.Add(new XElement(Nuspec + "projectUrl", Get("ProjectUri")));
        if (Get("IconUri").Length > 0) metadata.Add(new XElement(Nuspec + "iconUrl", Get("IconUri")));

        // Every file of the module folder, at the package's root, as Publish-PSResource packs it.
        var files = new XElement(Nuspec + "files", new XElement(Nuspec + "file", new XAttribute("src", "**"), new XAttribute("target", "")));
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(OutputFile)));
        new XDocument(new XDeclaration("1.0", "utf-8", null), new XElement(Nuspec + "package", metadata, files)).Save(OutputFile);
        return true;
    }
}
