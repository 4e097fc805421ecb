using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// Unmounts what is mounted below a folder this process holds by descriptor, each mount by its
/// identity, never by a path. The mount table names each mount by ID and path; the path is walked
/// from the held folder with openat2 (beneath it, no link of any kind, so a folder on the way swapped
/// for a link meanwhile leads nowhere), the descriptor reached must be on the mount of that very ID
/// (statx), and only then is that mount detached through the descriptor itself. A path that now leads
/// elsewhere (under sudo the store is the caller's, who may rename its folders and make links in them
/// at any moment) is never unmounted: it stays in the table, and the caller refuses.
/// </summary>
internal static class HeldFolderMounts
{
    // Crossing into a mount is allowed (each mount point IS a crossing); links, magic links and ".." out are not.
    private const ulong Confined = OpenAt2.RESOLVE_BENEATH | OpenAt2.RESOLVE_NO_SYMLINKS | OpenAt2.RESOLVE_NO_MAGICLINKS;

    // Each round undoes at least one mount or ends; a stack of mounts at one point, or a mount hidden
    // below another, needs one round per layer. Past this many the table's remainder is refused.
    private const int MaxRounds = 64;

    // The folder's name is read, then the table, then the name again; a folder renamed meanwhile is
    // looked at again, and one that keeps moving is refused.
    private const int MaxNameLooks = 8;

    internal enum Outcome { Unmounted, NotThere, Failed }

    /// <summary>
    /// Detaches the mount <paramref name="expectedMountId"/> if, and only if, <paramref name="relative"/>
    /// ("" for the folder itself) leads from <paramref name="heldFolderFd"/> to it without a link: then
    /// the descriptor opened is at its root (the top one, when several are stacked at that point).
    /// NotThere when the path leads elsewhere or nowhere; Failed when the unmount itself failed (not root).
    /// </summary>
    public static Outcome UnmountAt(int heldFolderFd, string relative, ulong expectedMountId)
    {
        // O_PATH without O_DIRECTORY: a file can be a mount point too (a bound file).
        var fd = OpenAt2.Open(heldFolderFd, relative.Length == 0 ? "." : relative, OpenAt2.O_PATH, Confined);
        if (fd < 0) return Outcome.NotThere;
        try
        {
            if (MountIdentity.Of(fd) != expectedMountId) return Outcome.NotThere;
            return MountIdentity.UnmountHeld(fd) == 0 ? Outcome.Unmounted : Outcome.Failed;
        }
        finally { OpenAt2.close(fd); }
    }

    /// <summary>
    /// Unmounts everything below the folder <paramref name="heldFolderFd"/> holds (<paramref name="target"/>:
    /// the path it was opened by, for messages and the final check) and returns what the mount table
    /// still shows there afterwards: under the folder's real name or under <paramref name="target"/> as
    /// written (which then leads elsewhere). Empty for a deleted folder: nothing can be mounted in it.
    /// </summary>
    public static IReadOnlyList<MountEntry> UnmountBelow(int heldFolderFd, string target)
    {
        // The table is read once when nothing is mounted (the provider's own teardown usually left
        // nothing), and again after each round that unmounted something.
        var unmountedAny = true;
        for (var round = 0; ; round++)
        {
            if (Read(heldFolderFd, target) is not var (name, table)) return Array.Empty<MountEntry>();
            var below = MountTable.Under(table, name);
            if (below.Count == 0 || !unmountedAny || round == MaxRounds)
                return Left(table, name, target);
            unmountedAny = false;
            var heldDetached = false;
            foreach (var entry in below) // deepest first: the folder itself, if it is a mount point, last
            {
                var relative = entry.Point[name.Length..].TrimStart('/');
                if (UnmountAt(heldFolderFd, relative, entry.Id) != Outcome.Unmounted) continue;
                unmountedAny = true;
                heldDetached |= relative.Length == 0;
            }
            if (heldDetached)
            {
                // The descriptor held the root of the mount on the folder itself, detached now with it:
                // a mount stacked below that one is out of its reach, and stays (refused) under the last name.
                // (The folder's own name cannot be confirmed again through a detached mount's root;
                // whatever the table missed here, the deletion itself refuses to enter: SafeTreeRemover.DeleteTree.)
                return Left(MountTable.Read(), name, target);
            }
        }
    }

    /// <summary>What <paramref name="table"/> shows under the held folder's name, or under the path it was opened by (which then leads elsewhere).</summary>
    private static IReadOnlyList<MountEntry> Left(IReadOnlyList<MountEntry> table, string name, string target)
    {
        var left = MountTable.Under(table, name);
        return name == target ? left : left.Concat(MountTable.Under(table, target)).ToList();
    }

    /// <summary>The held folder's name and the mount table, read while that name held; null when the folder is deleted.</summary>
    private static (string Name, IReadOnlyList<MountEntry> Table)? Read(int heldFolderFd, string target)
    {
        for (var look = 0; look < MaxNameLooks; look++)
        {
            var name = DescriptorPath.MountTableName(heldFolderFd, out var deleted);
            if (deleted) return null;
            if (name is null) continue;
            var table = MountTable.Read();
            if (DescriptorPath.CurrentName(heldFolderFd) == name) return (Path.TrimEndingDirectorySeparator(name), table);
        }
        throw SandboxErrors.StoreUnsafe(target, "its name in the mount table could not be confirmed (it kept being renamed while the mounts below it were read, or it is no longer reachable from here), so they could not be checked. Stop whatever renames it and remove it again.");
    }
}
