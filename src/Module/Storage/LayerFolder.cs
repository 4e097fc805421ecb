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
/// </summary>
internal static class LayerFolder
{
    private const ulong Beneath = OpenAt2.RESOLVE_BENEATH | OpenAt2.RESOLVE_NO_SYMLINKS | OpenAt2.RESOLVE_NO_MAGICLINKS;

    /// <summary>
    /// The folder's O_PATH descriptor, or -errno: -ENOENT when nothing is there (a missing layer reads
    /// as empty, as it always did). Throws StoreEntryUnsafe when, in a store, a link or a non-folder stands
    /// at the folder or on its way: a swap by whoever owns the store, refused rather than read as empty,
    /// which would hide a sandbox's changes or its image's users.
    /// </summary>
    public static int Open(string folder)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        if (StoreEntry.StoreRootOf(full) is not { } root)
            return OpenAt2.Open(DirectoryCalls.AT_FDCWD, full, OpenAt2.O_PATH | OpenAt2.O_DIRECTORY | OpenAt2.O_NOFOLLOW, 0);
        var rootFd = StoreRootGuard.OpenRoot(root);
        if (rootFd < 0) return rootFd;
        try
        {
            var fd = OpenAt2.Open(rootFd, Path.GetRelativePath(root, full), OpenAt2.O_PATH | OpenAt2.O_DIRECTORY, Beneath);
            if (fd is -OpenAt2.ELOOP or -OpenAt2.EXDEV or -OpenAt2.ENOTDIR)
                throw SandboxErrors.StoreEntryUnsafe(full, "read",
                    $"it, or a folder on its way inside the store, is a link or not a folder ({OpenAt2.ErrorText(-fd)}); whoever owns the store may have swapped it.");
            return fd;
        }
        finally { OpenAt2.close(rootFd); }
    }
}
