// Writes the module manifest the build ships (out/Sandbox/Sandbox.psd1) from the repository's
// Sandbox.psd1, which is a template: ModuleVersion and PSData come from Directory.Build.props, so the
// version is written in one place and the assemblies and the manifest cannot disagree. Built by
// MSBuild's RoslynCodeTaskFactory from build/ModuleManifest.targets.
//
// PSData keys whose property is empty are left out rather than written as '': Publish-PSResource
// refuses a manifest whose ProjectUri is empty ("ProjectUrl cannot be empty").
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class StampModuleManifest : Task
{
    [Required] public string Template { get; set; }
    [Required] public string OutputFile { get; set; }
    /// <summary>Major.minor.patch: a manifest's ModuleVersion must be a System.Version.</summary>
    [Required] public string VersionPrefix { get; set; }
    /// <summary>The prerelease label (VersionSuffix), written as PSData.Prerelease when set.</summary>
    public string Prerelease { get; set; }
    public string Tags { get; set; }
    public string ProjectUri { get; set; }
    public string LicenseUri { get; set; }
    public string IconUri { get; set; }
    /// <summary>CHANGELOG.md: the section headed "## VERSION" becomes PSData.ReleaseNotes.</summary>
    public string ReleaseNotesFile { get; set; }

    private const string VersionLine = @"(?m)^(\s*ModuleVersion\s*=\s*)'[^']*'";
    private const string PSDataLine = @"(?m)^(\s*)PSData\s*=\s*@\{\s*\}[ \t]*$";

    public override bool Execute()
    {
        if (!Regex.IsMatch(VersionPrefix ?? "", @"^\d+\.\d+\.\d+$"))
            return Fail($"VersionPrefix '{VersionPrefix}' in Directory.Build.props must be MAJOR.MINOR.PATCH (a manifest's ModuleVersion is a System.Version).");
        if (!string.IsNullOrEmpty(Prerelease) && !Regex.IsMatch(Prerelease, "^[A-Za-z0-9]+$"))
            return Fail($"VersionSuffix '{Prerelease}' must be letters and digits only: the PowerShell Gallery refuses other prerelease labels.");
        var text = File.ReadAllText(Template);
        if (Regex.Matches(text, VersionLine).Count != 1)
            return Fail($"{Template} must have exactly one line ModuleVersion = '...' for the build to stamp.");
        if (Regex.Matches(text, PSDataLine).Count != 1)
            return Fail($"{Template} must have exactly one line PSData = @{{}} for the build to fill.");

        var releaseNotes = "";
        if (!string.IsNullOrEmpty(ReleaseNotesFile))
        {
            var version = string.IsNullOrEmpty(Prerelease) ? VersionPrefix : VersionPrefix + "-" + Prerelease;
            releaseNotes = ReleaseNotesSection(File.ReadAllLines(ReleaseNotesFile), version);
            if (releaseNotes.Length == 0)
                return Fail($"{ReleaseNotesFile} has no section '## {version}' (with at least one line): add what this version changes.");
        }

        text = Regex.Replace(text, VersionLine, m => m.Groups[1].Value + Quote(VersionPrefix));
        text = Regex.Replace(text, PSDataLine, m => PSData(m.Groups[1].Value, releaseNotes));
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(OutputFile)));
        // Written only when it changes, so incremental builds leave the module folder alone.
        if (!File.Exists(OutputFile) || File.ReadAllText(OutputFile) != text) File.WriteAllText(OutputFile, text);
        return true;
    }

    private string PSData(string indent, string releaseNotes)
    {
        var entries = new List<string>();
        var tags = (Tags ?? "").Split(new[] { ';' }, StringSplitOptions.RemoveEmptyEntries).Select(t => t.Trim()).Where(t => t.Length > 0).ToList();
        if (tags.Count > 0) entries.Add("Tags = @(" + string.Join(", ", tags.Select(Quote)) + ")");
        if (!string.IsNullOrEmpty(ProjectUri)) entries.Add("ProjectUri = " + Quote(ProjectUri));
        if (!string.IsNullOrEmpty(LicenseUri)) entries.Add("LicenseUri = " + Quote(LicenseUri));
        if (!string.IsNullOrEmpty(IconUri)) entries.Add("IconUri = " + Quote(IconUri));
        if (!string.IsNullOrEmpty(Prerelease)) entries.Add("Prerelease = " + Quote(Prerelease));
        if (releaseNotes.Length > 0) entries.Add("ReleaseNotes = " + Quote(releaseNotes));
        var body = new StringBuilder();
        body.Append(indent).Append("# Filled by the build from Directory.Build.props (build/ModuleManifest.targets).\n");
        body.Append(indent).Append("PSData = @{\n");
        foreach (var entry in entries) body.Append(indent).Append("    ").Append(entry).Append('\n');
        body.Append(indent).Append('}');
        return body.ToString();
    }

    /// <summary>The lines under "## VERSION" (or "## [VERSION]", with anything after), up to the next "## ".</summary>
    internal static string ReleaseNotesSection(string[] lines, string version)
    {
        var heading = new Regex(@"^##\s+\[?" + Regex.Escape(version) + @"\]?(\s|$)");
        var start = Array.FindIndex(lines, l => heading.IsMatch(l));
        if (start < 0) return "";
        var section = lines.Skip(start + 1).TakeWhile(l => !l.StartsWith("## ", StringComparison.Ordinal));
        return string.Join("\n", section).Trim();
    }

    /// <summary>A single-quoted PowerShell string: newlines may stand; every quote PowerShell takes
    /// as a single quote (', and the typographic ones U+2018-U+201B) is doubled.</summary>
    private static string Quote(string value) =>
        "'" + Regex.Replace(value.Replace("\r", ""), "['\u2018\u2019\u201A\u201B]", "$0$0") + "'";

    private bool Fail(string message)
    {
        Log.LogError(null, "SBXBUILD1", null, Template, 0, 0, 0, 0, message);
        return false;
    }
}
