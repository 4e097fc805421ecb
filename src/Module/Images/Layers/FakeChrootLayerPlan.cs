using Sandbox.Native;
using Sandbox.Storage;

namespace Sandbox.Images.Layers;

/// <summary>
/// What a FakeChroot sandbox's layer is: its private copy compared with the parent's layers as
/// overlayfs shows them (<see cref="TreeLookupStack"/>), in the one layer format, as a rootless
/// overlay upper of the same step would hold it:
/// <list type="bullet">
/// <item>an entry is the step's (added or modified) when the parent has nothing of that type there,
/// or its inode changed since the copy was taken (status-change time at or after
/// <see cref="FarmBaseline.TakenAt"/>: a write, a rename, a chmod, a link: nothing a process can
/// set back), or its owner or mode as faked reports them differs from the parent's, or, for a file,
/// its size or modification time does. The copy was made with modes and times preserved, so an
/// untouched entry matches all of these. Contents are not read: two files that agree in every one of
/// these facts at the same path, in the folder that stood there when the copy was made, and were
/// never touched are the same copy;</item>
/// <item>a name the parent shows in a folder the copy kept, missing from the copy, is deleted: a
/// whiteout (a 0/0 character device);</item>
/// <item>a folder the step made where the parent had a file, or put where the parent had a folder
/// (made anew, born after the copy was taken, or another folder than the one at that path when the
/// copy was made, <see cref="FarmFolders"/>: <c>rm -rf /b; mv /a /b</c> leaves the entries under
/// the new <c>/b</c> with their old status-change times, so by path they would pass for the
/// parent's), is opaque (<see cref="OverlayMarkers.Opaque"/>), and then everything under it is the
/// step's;</item>
/// <item>every folder on the way to one of these is in the layer too, with its own owner and mode.</item>
/// </list>
/// Owners and modes are those the sandbox's commands see: faked's table where it knows the inode;
/// otherwise an entry of the copy keeps the parent's owner (the copy could not) and a new one is
/// root's, as fakeroot shows files it does not know. Device nodes (fakeroot's mknod makes a plain
/// file faked calls a device; a real one cannot be made by the user, only linked in) are refused.
/// </summary>
internal sealed class FakeChrootLayerPlan
{
    private const uint TypeMask = 0xF000;
    private const uint Folder = 0x4000, CharDevice = 0x2000, BlockDevice = 0x6000, Link = 0xA000, Regular = 0x8000;

    /// <summary>One entry of the layer, from the copy, with the owner and mode it has inside.</summary>
    internal readonly record struct Entry(string Relative, uint Type, uint Permissions, bool PermissionsDiffer, long Uid, long Gid);

    public List<Entry> Entries { get; } = new();
    public List<string> Whiteouts { get; } = new();
    public List<string> OpaqueFolders { get; } = new();

    private sealed record Row(string Relative, FileStatus Status, EntryTimes Times);

    /// <param name="farm">The sandbox's copy.</param>
    /// <param name="parentLayers">The parent's layer folders, topmost first.</param>
    /// <param name="takenAt">When the copy became the sandbox's (<see cref="FarmBaseline.TakenAt"/>).</param>
    /// <param name="folders">Which folder stood at each path of the copy when it was made.</param>
    /// <param name="excluded">Paths that are the sandbox's plumbing, not its content (FakeChroot binds are links to host folders).</param>
    public static FakeChrootLayerPlan Make(string sandbox, string farm, IReadOnlyList<string> parentLayers, long takenAt,
        FarmFolders folders, FakedTable faked, RootlessOwners owners, IReadOnlyCollection<string> excluded)
    {
        var plan = new FakeChrootLayerPlan();
        var rows = new List<Row>();
        var names = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal) { [""] = new(StringComparer.Ordinal) };
        foreach (var entry in TreeWalker.Entries(farm))
        {
            if (excluded.Any(path => entry.Relative == path || entry.Relative.StartsWith(path + "/", StringComparison.Ordinal))) continue;
            if (EntryTimes.Of(entry.FolderFd, entry.Name) is not { } times) continue; // gone meanwhile
            // A folder the user cannot list would look empty, and everything the parent has in it deleted.
            if (entry.Status.IsDirectory && (entry.Status.Mode & 0x140) != 0x140)
                throw SandboxErrors.CommitFolderUnlistable(sandbox, "/" + entry.Relative, Convert.ToString(entry.Status.Mode & 0xFFF, 8));
            if (!names.TryGetValue(Parent(entry.Relative), out var siblings)) continue; // its folder went meanwhile
            rows.Add(new Row(entry.Relative, entry.Status, times));
            siblings.Add(Name(entry.Relative));
            if (entry.Status.IsDirectory) names[entry.Relative] = new HashSet<string>(StringComparer.Ordinal);
        }

        using var parent = TreeLookupStack.Open(parentLayers);
        var forced = new HashSet<string>(StringComparer.Ordinal); // folders everything under which is the step's
        var inPlace = new List<string> { "" };                      // folders of the copy that stand for the parent's
        var included = new SortedDictionary<string, Entry>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            var under = forced.Contains(Parent(row.Relative));
            var before = under ? null : parent.Find(row.Relative);
            var inside = Inside(sandbox, row, before?.Status, faked, owners, takenAt);
            if (row.Status.IsDirectory)
            {
                if (under || before is null) { forced.Add(row.Relative); included[row.Relative] = inside; continue; }
                // Replaced: another folder than the copy's own stands here (moved in, or made anew; the
                // birth time also catches a new folder that reused the old one's inode number).
                var replaced = !folders.Holds(row.Relative, row.Status) || (row.Times.Birth is { } birth && birth >= takenAt);
                if (!before.Value.Status.IsDirectory || replaced)
                {
                    forced.Add(row.Relative);
                    plan.OpaqueFolders.Add(row.Relative);
                    included[row.Relative] = inside;
                    continue;
                }
                inPlace.Add(row.Relative);
                if (Differs(inside, before.Value, parentLayers, row, owners, compareSize: false)) included[row.Relative] = inside;
            }
            else if (under || before is null || (before.Value.Status.Mode & TypeMask) != inside.Type || row.Times.Change >= takenAt
                     || Differs(inside, before.Value, parentLayers, row, owners, compareSize: inside.Type == Regular))
                included[row.Relative] = inside;
        }

        foreach (var folder in inPlace)
        {
            foreach (var name in ParentNames(parent, parentLayers, folder))
            {
                var relative = folder.Length == 0 ? name : folder + "/" + name;
                if (names[folder].Contains(name) || excluded.Contains(relative) || parent.Find(relative) is null) continue;
                plan.Whiteouts.Add(relative);
            }
        }

        // Every folder on the way to an entry or a whiteout, with its own facts.
        var byPath = rows.ToDictionary(r => r.Relative, StringComparer.Ordinal);
        foreach (var path in included.Keys.Concat(plan.Whiteouts).ToList())
        {
            for (var folder = Parent(path); folder.Length > 0 && !included.ContainsKey(folder); folder = Parent(folder))
            {
                var row = byPath[folder];
                included[folder] = Inside(sandbox, row, parent.Find(folder)?.Status, faked, owners, takenAt);
            }
        }
        plan.Entries.AddRange(included.Values);
        plan.Whiteouts.Sort(StringComparer.Ordinal);
        return plan;
    }

    /// <summary>The type, mode and owner an entry of the copy has for the sandbox's commands.</summary>
    private static Entry Inside(string sandbox, Row row, FileStatus? before, FakedTable faked, RootlessOwners owners, long takenAt)
    {
        var type = row.Status.Mode & TypeMask;
        if (type is CharDevice or BlockDevice) throw SandboxErrors.CommitDeviceNode(sandbox, "/" + row.Relative);
        var known = faked.Find(row.Status);
        if (known is { } k && (k.Mode & TypeMask) is CharDevice or BlockDevice) throw SandboxErrors.CommitDeviceNode(sandbox, "/" + row.Relative);
        if (known is { } stale && (stale.Mode & TypeMask) != type) known = null; // an inode reused since faked saw it
        var permissions = known is { } entry ? entry.Mode & 0xFFF : row.Status.Mode & 0xFFF;
        (long Uid, long Gid) owner;
        if (known is { } fake) owner = (fake.Uid, fake.Gid);
        else if (before is { } was && (was.Mode & TypeMask) == type && (row.Times.Birth ?? row.Times.Change) < takenAt
                 && owners.Inside(was.Uid, was.Gid) is { } parentOwner)
            owner = parentOwner; // the copy's own entry: the parent's owner, which the copy could not keep
        else owner = (0, 0);
        if (!owners.CanHold(owner.Uid, owner.Gid))
            throw SandboxErrors.CommitOwnerNotMappable(sandbox, "/" + row.Relative, owner.Uid, owner.Gid, owners.MappedCount);
        return new Entry(row.Relative, type, permissions, permissions != (row.Status.Mode & 0xFFF), owner.Uid, owner.Gid);
    }

    /// <summary>Whether the entry's owner, mode (not a link's) or, for a file, size and modification time differ from the parent's.</summary>
    private static bool Differs(Entry inside, (FileStatus Status, int Layer) before, IReadOnlyList<string> parentLayers, Row row,
        RootlessOwners owners, bool compareSize)
    {
        if (owners.Inside(before.Status.Uid, before.Status.Gid) is not { } owner || owner != (inside.Uid, inside.Gid)) return true;
        if (inside.Type != Link && (before.Status.Mode & 0xFFF) != inside.Permissions) return true;
        if (!compareSize) return false;
        if (before.Status.Size != row.Status.Size) return true;
        // Found through confined lookups: every folder on the way in that layer is a folder.
        return EntryTimes.Of(Path.Combine(parentLayers[before.Layer], row.Relative)) is not { } times || times.Modification != row.Times.Modification;
    }

    /// <summary>The names the parent shows in a folder: those of every layer that reaches it, whiteouts and hidden names dropped by the caller's Find.</summary>
    private static IEnumerable<string> ParentNames(TreeLookupStack parent, IReadOnlyList<string> layers, string folder)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var layer = 0; layer < layers.Count; layer++)
        {
            if (!parent.Reaches(folder, layer)) continue;
            var path = folder.Length == 0 ? layers[layer] : Path.Combine(layers[layer], folder);
            IEnumerable<string> listed;
            try { listed = Directory.EnumerateFileSystemEntries(path).Select(p => Path.GetFileName(p)).ToList(); }
            catch (Exception e) when (e is DirectoryNotFoundException or UnauthorizedAccessException or IOException) { continue; }
            foreach (var name in listed)
                if (seen.Add(name)) yield return name;
        }
    }

    private static string Parent(string relative) => relative.LastIndexOf('/') is var slash and >= 0 ? relative[..slash] : "";
    private static string Name(string relative) => relative[(relative.LastIndexOf('/') + 1)..];
}
