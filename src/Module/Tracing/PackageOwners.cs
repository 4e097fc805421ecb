using System.Text;
using Sandbox.Storage;

namespace Sandbox.Tracing;

/// <summary>
/// Which Debian package owns each traced file: the sandbox's own dpkg database (its status file and
/// var/lib/dpkg/info/PACKAGE[:ARCH].list), read only through the confined reader and within fixed
/// bounds. Paths are compared after the image's own folder links are followed (usrmerge's /bin ->
/// usr/bin: a list names /bin/sed, ld.so opens /lib/x86_64-linux-gnu/libc.so.6 under /usr), each
/// link read inside the root and resolved as text, never on the host.
/// </summary>
internal static class PackageOwners
{
    public const int MaxStatusBytes = 64 * 1024 * 1024;
    public const int MaxListBytes = 16 * 1024 * 1024;
    public const long MaxAllListBytes = 256L * 1024 * 1024;
    public const int MaxPackages = 20_000;
    private const int MaxLinkHops = 40;

    private static readonly string[] NotOfTheImage = { "/proc", "/sys", "/dev" };

    public static SandboxTrace Attach(SandboxTrace trace, SandboxRootReader root, IEngineLog log)
    {
        if (trace.Files.Count == 0) return trace;
        Database database;
        try { database = Database.Read(root); }
        catch (SandboxException e)
        {
            log.Warning($"The trace lists no packages: the sandbox's dpkg database could not be read safely ({e.Message}).");
            return trace;
        }
        var (packages, unowned) = Match(trace.Files, database, new FolderLinks(root));
        var truncated = trace.Truncated || database.Incomplete;
        return new SandboxTrace
        {
            Files = trace.Files, Processes = trace.Processes, Connects = trace.Connects,
            Packages = packages, UnownedFiles = unowned,
            Truncated = truncated, DroppedEvents = trace.DroppedEvents, PidNamespace = trace.PidNamespace,
            Summary = TraceInterpreter.Summarize(trace.Files, trace.Processes.Count, trace.Connects.Count, packages.Count, truncated),
        };
    }

    /// <summary>The packages owning the traced files (with the paths each was used for), and the image's files nobody owns.</summary>
    internal static (List<TracedPackage>, List<string>) Match(IReadOnlyList<TracedFileAccess> files, Database database, FolderLinks links)
    {
        var created = files.Where(f => f.Errno is null && f.Operation is TraceOperation.Create or TraceOperation.Mkdir or TraceOperation.Symlink or TraceOperation.Mknod)
            .Select(f => f.Path)
            .Concat(files.Where(f => f.Errno is null && f.Operation is TraceOperation.Rename or TraceOperation.Link && f.Target is not null).Select(f => f.Target!))
            .ToHashSet(StringComparer.Ordinal);
        var byPackage = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        var unowned = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var path in files.Where(f => f.Errno is null && f.Operation is not (TraceOperation.Chdir or TraceOperation.Mkdir or TraceOperation.Rmdir))
                     .Select(f => f.Path).Distinct(StringComparer.Ordinal))
        {
            if (!path.StartsWith('/') || path.EndsWith("...", StringComparison.Ordinal) || created.Contains(path)) continue;
            if (NotOfTheImage.Any(top => path == top || path.StartsWith(top + "/", StringComparison.Ordinal))) continue;
            var canonical = links.Canonical(path);
            if (database.Folders.Contains(canonical)) continue; // a folder many packages share says nothing
            if (database.Owners.TryGetValue(canonical, out var owners))
                foreach (var owner in owners)
                {
                    if (!byPackage.TryGetValue(owner, out var paths)) byPackage[owner] = paths = new SortedSet<string>(StringComparer.Ordinal);
                    paths.Add(path);
                }
            else unowned.Add(path);
        }
        return (byPackage.Select(p => new TracedPackage { Name = p.Key, Paths = p.Value.ToList() }).ToList(), unowned.ToList());
    }

    /// <summary>The image's folder links, read inside the root and followed as text (cached per folder).</summary>
    internal sealed class FolderLinks
    {
        private readonly Func<string, string?> _linkTarget;
        private readonly Dictionary<string, string> _folders = new(StringComparer.Ordinal) { ["/"] = "/" };

        public FolderLinks(SandboxRootReader root) : this(path =>
        {
            try { return root.LinkTarget(path); }
            catch (SandboxException) { return null; }
        }) { }

        /// <param name="linkTarget">A link's target at a path of the root, or null (unit tests give a table).</param>
        public FolderLinks(Func<string, string?> linkTarget) => _linkTarget = linkTarget;

        /// <summary>The path with every folder on the way replaced by what it links to; its last part as it is.</summary>
        public string Canonical(string path)
        {
            var normalized = TracePaths.Normalize(path);
            if (normalized == "/") return "/";
            var cut = normalized.LastIndexOf('/');
            var folder = Folder(cut == 0 ? "/" : normalized[..cut], 0);
            return (folder == "/" ? "" : folder) + normalized[cut..];
        }

        private string Folder(string folder, int hops)
        {
            if (_folders.TryGetValue(folder, out var known)) return known;
            var cut = folder.LastIndexOf('/');
            var parent = Folder(cut == 0 ? "/" : folder[..cut], hops);
            var here = (parent == "/" ? "" : parent) + folder[cut..];
            string result = here;
            if (hops < MaxLinkHops && _linkTarget(here) is { Length: > 0 } target)
                result = Folder(TracePaths.Normalize(target.StartsWith('/') ? target : parent + "/" + target), hops + 1);
            return _folders[folder] = result;
        }
    }

    /// <summary>The installed packages' file lists, canonical paths to owners, within the bounds above.</summary>
    internal sealed class Database
    {
        public Dictionary<string, List<string>> Owners { get; } = new(StringComparer.Ordinal);
        public HashSet<string> Folders { get; } = new(StringComparer.Ordinal);
        public bool Incomplete { get; private set; }

        public static Database Read(SandboxRootReader root)
        {
            var database = new Database();
            var status = root.ReadFile("/var/lib/dpkg/status", MaxStatusBytes);
            if (status is null) return database;
            var links = new FolderLinks(root);
            long total = 0;
            var packages = InstalledPackages(Encoding.UTF8.GetString(status)).ToList();
            if (packages.Count > MaxPackages) { database.Incomplete = true; packages = packages.Take(MaxPackages).ToList(); }
            foreach (var (name, architecture) in packages)
            {
                byte[]? list = null;
                foreach (var file in new[] { $"/var/lib/dpkg/info/{name}:{architecture}.list", $"/var/lib/dpkg/info/{name}.list" })
                {
                    try { list = root.ReadFile(file, MaxListBytes); }
                    catch (SandboxException) { database.Incomplete = true; } // a link, FIFO or huge file planted there
                    if (list is not null) break;
                }
                if (list is null) continue;
                if ((total += list.Length) > MaxAllListBytes) { database.Incomplete = true; break; }
                database.Add(name, Encoding.UTF8.GetString(list), links);
            }
            return database;
        }

        /// <summary>Adds one package's list ("/." then one path a line).</summary>
        internal void Add(string package, string list, FolderLinks links)
        {
            foreach (var raw in list.Split('\n'))
            {
                if (raw.Length == 0 || raw[0] != '/' || raw == "/.") continue;
                var canonical = links.Canonical(raw);
                var cut = canonical.LastIndexOf('/');
                if (cut > 0) Folders.Add(canonical[..cut]);
                if (!Owners.TryGetValue(canonical, out var owners)) Owners[canonical] = owners = new List<string>(1);
                if (!owners.Contains(package)) owners.Add(package);
            }
        }

        /// <summary>"Package:" and "Architecture:" of every stanza whose Status ends in "installed".</summary>
        internal static IEnumerable<(string Name, string Architecture)> InstalledPackages(string status)
        {
            foreach (var stanza in status.Split("\n\n"))
            {
                string? name = null, architecture = null, state = null;
                foreach (var line in stanza.Split('\n'))
                {
                    if (line.StartsWith("Package: ", StringComparison.Ordinal)) name = line[9..].Trim();
                    else if (line.StartsWith("Architecture: ", StringComparison.Ordinal)) architecture = line[14..].Trim();
                    else if (line.StartsWith("Status: ", StringComparison.Ordinal)) state = line[8..].Trim();
                }
                // A name is a file name under info/: only dpkg's own characters, never '/' or "..".
                if (name is null || state is null || !state.EndsWith(" installed", StringComparison.Ordinal)) continue;
                if (!IsPackageName(name) || architecture is null || !IsPackageName(architecture)) continue;
                yield return (name, architecture);
            }
        }

        private static bool IsPackageName(string name) =>
            name.Length is > 0 and < 128 && name[0] != '.' && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '+' or '-');
    }
}
