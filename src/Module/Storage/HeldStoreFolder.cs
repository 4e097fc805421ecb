using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// A folder of the store held by descriptor for a block of by-path work (enumerate, delete, move into):
/// as root it is reached beneath the store root without following any link (<see cref="StoreEntry"/>)
/// and then named by its descriptor (<see cref="DescriptorPath.Of"/>), so every path built on
/// <see cref="Path"/> stays in that very folder, whatever the store's owner (the sudo caller) renames or
/// swaps for a link meanwhile. A user's own store has nobody else to swap it, and a path in no store is
/// not ours to vouch for: there <see cref="Path"/> is the path as given.
/// </summary>
internal sealed class HeldStoreFolder : IDisposable
{
    private int _fd;

    private HeldStoreFolder(int fd, string path)
    {
        _fd = fd;
        Path = path;
    }

    /// <summary>The O_PATH descriptor holding the folder, or -1 when it is not held (see the class).</summary>
    public int Fd => _fd;

    /// <summary>The folder's path for this block: its descriptor's /proc name as root, else the path as given.</summary>
    public string Path { get; }

    /// <summary>
    /// Holds <paramref name="folder"/>. Throws StoreEntryUnsafe when a folder on its way, or the folder
    /// itself, is a link or not a folder (as root in a store).
    /// </summary>
    public static HeldStoreFolder Open(string folder)
    {
        var full = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(folder));
        if (!UserIdentity.IsRoot || StoreEntry.StoreRootOf(full) is not { } root || root == full) return new HeldStoreFolder(-1, full);
        static Exception Refuse(string path, string problem) => SandboxErrors.StoreEntryUnsafe(path, "work in", problem);
        using var entry = StoreEntry.OpenParentBeneath(full, root, Refuse)
            ?? throw new DirectoryNotFoundException($"'{full}' is not there: its folder is gone.");
        var fd = OpenAt2.Open(entry.ParentFd, entry.Name, OpenAt2.O_PATH | OpenAt2.O_DIRECTORY | OpenAt2.O_NOFOLLOW, 0);
        if (fd == -OpenAt2.ENOENT) throw new DirectoryNotFoundException($"'{full}' is not there.");
        if (fd < 0) throw Refuse(full, $"it is a link or not a folder ({OpenAt2.ErrorText(-fd)}).");
        return new HeldStoreFolder(fd, DescriptorPath.Of(fd));
    }

    public void Dispose()
    {
        if (_fd >= 0) OpenAt2.close(_fd);
        _fd = -1;
    }
}
