using System.Text;
using Sandbox.Storage;

namespace Sandbox.Providers;

/// <summary>
/// The library folders a FakeChroot copy's /etc/ld.so.conf names (with its includes), in order, as
/// paths inside the copy: what chroot.fakechroot puts on LD_LIBRARY_PATH so that the host's loader
/// finds the copy's libraries. The files are the sandbox's, so they are read as hostile input:
/// through <see cref="SandboxRootReader"/> (no link leaves the copy, no FIFO or device is opened),
/// bounded in size, number and include depth (the script would loop forever on an include cycle,
/// and ran `eval` on the include lines). Globs (<c>*</c>, <c>?</c>) are expanded in the last
/// component only, sorted, as the shell does for the standard <c>include /etc/ld.so.conf.d/*.conf</c>.
/// </summary>
internal static class LinkerFolders
{
    private const int MaxFileBytes = 1024 * 1024;
    private const int MaxFiles = 256;
    private const int MaxDepth = 8;
    private const int MaxFolders = 1024;

    public static IReadOnlyList<string> Of(string copy)
    {
        var reader = new SandboxRootReader(copy);
        var found = new List<string>();
        var budget = new Budget();
        if (reader.IsFile("/etc/ld.so.conf")) Load(copy, reader, "/etc/ld.so.conf", 0, found, budget);
        else if (Directory.Exists(Path.Combine(copy, "etc/ld.so.conf.d"))) Load(copy, reader, "/etc/ld.so.conf.d/*", 0, found, budget);
        return found;
    }

    /// <summary>The folders of <see cref="FakeChrootEnvironment.ExtraLibraryFolders"/> the copy has, as chroot.fakechroot's test -d finds them.</summary>
    public static IReadOnlyList<string> ExtraOf(string copy) =>
        FakeChrootEnvironment.ExtraLibraryFolders.Where(folder => Directory.Exists(copy + folder)).ToList();

    private sealed class Budget
    {
        public int Files;
    }

    private static void Load(string copy, SandboxRootReader reader, string pattern, int depth, List<string> found, Budget budget)
    {
        if (depth > MaxDepth) return;
        foreach (var file in Expand(copy, pattern))
        {
            if (++budget.Files > MaxFiles || found.Count >= MaxFolders) return;
            byte[]? content;
            try { content = reader.ReadFile(file, MaxFileBytes); }
            catch (SandboxException) { continue; } // a link out, a FIFO, a folder, too large: as sed's failure, nothing
            if (content is null) continue;
            foreach (var raw in Encoding.UTF8.GetString(content).Split('\n'))
            {
                var line = (raw.IndexOf('#') is var hash and >= 0 ? raw[..hash] : raw).Trim();
                if (line.Length == 0) continue;
                if (line.StartsWith("include", StringComparison.Ordinal))
                {
                    foreach (var included in line["include".Length..].Split(' ', '\t').Where(word => word.Length > 0))
                        Load(copy, reader, included, depth + 1, found, budget);
                }
                else if (found.Count < MaxFolders && Folder(line) is { } folder)
                {
                    found.Add(folder);
                }
            }
        }
    }

    /// <summary>
    /// A line of ld.so.conf as a folder inside the copy, normalised (no "//", "/." or trailing "/"),
    /// or null when it is not one: each is put on LD_LIBRARY_PATH as copy + folder, so a relative
    /// line ("lib" becomes the host's "COPYlib"), ".." (out of the copy), ':' or ';' (LD_LIBRARY_PATH's
    /// separators: a host folder or the empty entry, the working folder), '$' (the loader's $ORIGIN,
    /// $LIB, $PLATFORM) or a control character would point the host's loader elsewhere. Skipped, as
    /// ldconfig skips what it cannot use.
    /// </summary>
    internal static string? Folder(string line)
    {
        if (!line.StartsWith('/')) return null;
        if (line.Any(c => char.IsControl(c) || c is ':' or ';' or '$')) return null;
        var segments = line.Split('/').Where(segment => segment.Length > 0 && segment != ".").ToList();
        if (segments.Contains("..")) return null;
        return "/" + string.Join('/', segments);
    }

    /// <summary>The files a pattern names inside the copy: itself without a glob, else the sorted matches (or itself, as the shell leaves an unmatched glob).</summary>
    internal static IEnumerable<string> Expand(string copy, string pattern)
    {
        if (!pattern.StartsWith('/')) return Array.Empty<string>();
        var name = pattern[(pattern.LastIndexOf('/') + 1)..];
        if (name.IndexOfAny(new[] { '*', '?' }) < 0) return new[] { pattern };
        var folder = pattern[..pattern.LastIndexOf('/')];
        if (folder.IndexOfAny(new[] { '*', '?' }) >= 0) return Array.Empty<string>();
        List<string> matches;
        try
        {
            matches = Directory.EnumerateFileSystemEntries(copy + folder)
                .Select(Path.GetFileName)
                .OfType<string>()
                .Where(entry => !entry.StartsWith('.') && Matches(name, entry))
                .Take(MaxFiles)
                .Order(StringComparer.Ordinal)
                .Select(entry => folder + "/" + entry)
                .ToList();
        }
        catch (IOException) { return new[] { pattern }; }
        catch (UnauthorizedAccessException) { return new[] { pattern }; }
        return matches.Count > 0 ? matches : new[] { pattern };
    }

    /// <summary>Shell glob of one component: * any run, ? any one character.</summary>
    internal static bool Matches(string glob, string name)
    {
        int g = 0, n = 0, star = -1, resume = 0;
        while (n < name.Length)
        {
            if (g < glob.Length && (glob[g] == '?' || glob[g] == name[n])) { g++; n++; }
            else if (g < glob.Length && glob[g] == '*') { star = g++; resume = n; }
            else if (star >= 0) { g = star + 1; n = ++resume; }
            else return false;
        }
        while (g < glob.Length && glob[g] == '*') g++;
        return g == glob.Length;
    }
}
