namespace Sandbox.Images.Packages;

/// <summary>
/// The archive names of the packages installed in a freshly built tree, read from its dpkg status file:
/// what lets the build say how many packages came from the cache rather than only how many were offered.
/// </summary>
internal static class InstalledPackages
{
    /// <summary>Parses dpkg's status file (stanzas separated by blank lines) into apt archive names.</summary>
    public static HashSet<string> ArchiveNames(string statusText)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var stanza in statusText.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string? package = null, version = null, architecture = null, status = null;
            foreach (var line in stanza.Split('\n'))
            {
                if (line.StartsWith("Package: ", StringComparison.Ordinal)) package = line[9..].Trim();
                else if (line.StartsWith("Version: ", StringComparison.Ordinal)) version = line[9..].Trim();
                else if (line.StartsWith("Architecture: ", StringComparison.Ordinal)) architecture = line[14..].Trim();
                else if (line.StartsWith("Status: ", StringComparison.Ordinal)) status = line[8..].Trim();
            }
            if (package is null || version is null || architecture is null) continue;
            if (status is not null && !status.EndsWith(" installed", StringComparison.Ordinal)) continue;
            names.Add(DebFileName.ForPackage(package, version, architecture));
        }
        return names;
    }
}
