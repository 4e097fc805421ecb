using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// The folder of a tree the host reads on a sandbox's behalf (a sandbox's upper/ or FakeChroot copy,
/// an image's layer), opened once as an O_PATH descriptor for every lookup and walk after it to start
/// from. Reads inside the tree are confined to it (openat2 from this descriptor); this is where the
/// tree itself is reached. In a store it is reached beneath the store root the guard checked
/// (<see cref="StoreRootGuard.OpenRoot"/>) with one openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
/// RESOLVE_NO_MAGICLINKS: under sudo the store is the caller's, who can rename a sandbox's state folder
/// or an image's layer away and put a link to a folder of root's in its place; by path, root then listed
/// that folder's names and sizes (Get-SandboxStat -Changes) and read its etc/passwd (-User). A path in
/// no store (a tree of a test or tool) is not ours to vouch for: it is opened as given, as before.
///
/// Callers read a missing layer as empty, so only "nothing there" (ENOENT) may come back as missing:
/// a folder that is there but cannot be opened or entered (rootless, a sandbox's chmod 000 / makes its
/// upper/ so) would read as empty too, and hide the sandbox's changes or the image's users. That is
/// LayerFolderUnreadable instead.
/// </summary>
internal static class LayerFolder
{
    private const ulong Beneath = OpenAt2.RESOLVE_BENEATH | OpenAt2.RESOLVE_NO_SYMLINKS | OpenAt2.RESOLVE_NO_MAGICLINKS;

    /// <summary>
    /// The folder's O_PATH descriptor, or -ENOENT when nothing is there (a missing layer reads as empty,
    /// as it always did). Throws StoreEntryUnsafe when, in a store, a link or a non-folder stands at the
    /// folder or on its way (a swap by whoever owns the store), LayerFolderUnreadable when it is there but
    /// cannot be opened, listed or entered: either, read as empty, would hide a sandbox's changes or its image's users.
    /// </summary>
    public static int Open(string folder) => Open(new[] { folder })[0];

    /// <summary>
    /// Each folder's descriptor as <see cref="Open(string)"/> gives it, in the same order, opening each
    /// store root among them once (a stack's layers share one store: one guard check, not one per layer).
    /// On a throw, every descriptor already opened is closed.
    /// </summary>
    public static int[] Open(IReadOnlyList<string> folders)
    {
        var opened = new int[folders.Count];
        Array.Fill(opened, -OpenAt2.ENOENT);
        var roots = new Dictionary<string, int>(StringComparer.Ordinal);
        try
        {
            for (var i = 0; i < folders.Count; i++) opened[i] = OpenOne(folders[i], roots);
            return opened;
        }
        catch
        {
            foreach (var fd in opened.Where(fd => fd >= 0)) OpenAt2.close(fd);
            throw;
        }
        finally
        {
            foreach (var rootFd in roots.Values.Where(fd => fd >= 0)) OpenAt2.close(rootFd);
        }
    }

    private static int OpenOne(string folder, Dictionary<string, int> roots)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        int fd;
        if (StoreEntry.StoreRootOf(full) is not { } root)
        {
            fd = OpenAt2.Open(DirectoryCalls.AT_FDCWD, full, OpenAt2.O_PATH | OpenAt2.O_DIRECTORY | OpenAt2.O_NOFOLLOW, 0);
            // Outside a store a link or a file is "no folder here", as it always was (a tool's tree, a test's).
            if (fd is -OpenAt2.ELOOP or -OpenAt2.ENOTDIR) return -OpenAt2.ENOENT;
        }
        else
        {
            if (!roots.TryGetValue(root, out var rootFd)) roots[root] = rootFd = StoreRootGuard.OpenRoot(root);
            fd = rootFd < 0 ? rootFd : OpenAt2.Open(rootFd, Path.GetRelativePath(root, full), OpenAt2.O_PATH | OpenAt2.O_DIRECTORY, Beneath);
            if (fd is -OpenAt2.ELOOP or -OpenAt2.EXDEV or -OpenAt2.ENOTDIR)
                throw SandboxErrors.StoreEntryUnsafe(full, "read",
                    $"it, or a folder on its way inside the store, is a link or not a folder ({OpenAt2.ErrorText(-fd)}); whoever owns the store may have swapped it.");
        }
        if (fd == -OpenAt2.ENOENT) return fd;
        if (fd < 0) throw SandboxErrors.LayerFolderUnreadable(full, OpenAt2.ErrorText(-fd));
        RequireReadable(fd, full);
        return fd;
    }

    /// <summary>
    /// An O_PATH open needs no permission on the folder itself, so a folder its owner may neither list nor
    /// enter opens fine and then answers every lookup and listing as if empty. Opening "." from it for
    /// reading asks for both (search to look "." up, read to open it): the walks and lookups that follow need no more.
    /// </summary>
    private static void RequireReadable(int fd, string full)
    {
        var probe = OpenAt2.Open(fd, ".", OpenAt2.O_RDONLY | OpenAt2.O_DIRECTORY, 0);
        if (probe >= 0)
        {
            OpenAt2.close(probe);
            return;
        }
        OpenAt2.close(fd);
        throw SandboxErrors.LayerFolderUnreadable(full, OpenAt2.ErrorText(-probe));
    }
}
