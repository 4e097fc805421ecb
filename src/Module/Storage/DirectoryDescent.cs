using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// The one way host-side code goes through a tree a sandbox controls: a stack of folder
/// descriptors. The root is opened with O_NOFOLLOW, each folder below with
/// openat(parent, name, O_DIRECTORY|O_NOFOLLOW), and every name is looked at, removed or re-owned
/// relative to the descriptor of its folder. No path is ever handed to the kernel again, so a folder
/// swapped for a link between a look and a use gives ELOOP/ENOTDIR instead of leading out of the tree.
///
/// The stack is explicit (a 5000-level tree costs no managed stack) and keeps at most
/// <see cref="OpenFolderLimit"/> descriptors open: deeper, the oldest open ancestor is closed, and
/// going back up reopens it as ".." of its child (".." is never a link), accepted only if it is the
/// very folder (device and inode) that was left; otherwise the tree was moved under the walk and it stops.
/// </summary>
internal sealed class DirectoryDescent : IDisposable
{
    public const int OpenFolderLimit = 64;
    private static readonly byte[] Parent = DirectoryCalls.Bytes("..");

    private sealed class Level
    {
        public int Fd;
        public required FileStatus Status;
        public required byte[]? NameInParent;
        public string? Relative; // made when first asked: a removal never needs it
        public required List<byte[]> Names;
        public int Next;
    }

    private readonly List<Level> _levels = new();
    private int _openCount;

    private DirectoryDescent() { }

    /// <summary>The root folder's facts (its device bounds a removal).</summary>
    public FileStatus RootStatus => _levels[0].Status;

    /// <summary>
    /// Opens <paramref name="root"/> (which must itself be a folder, not a link to one); null when it
    /// is not there (outside a store, also when it is not a folder). Its path is the store's, not the
    /// sandbox's, but under sudo the store is the caller's: in a store the root is reached beneath the
    /// store root without links (<see cref="LayerFolder"/>, StoreEntryUnsafe for a swapped folder on its
    /// way), elsewhere by its path. A root that is there but cannot be read is LayerFolderUnreadable,
    /// never an empty walk: that would hide every change in it.
    /// </summary>
    public static DirectoryDescent? Open(string root)
    {
        var held = LayerFolder.Open(root);
        if (held < 0) return null;
        try { return OpenLayer(held, root); }
        finally { DirectoryCalls.close(held); }
    }

    /// <summary>
    /// The walk of a layer folder <see cref="LayerFolder"/> opened (<paramref name="layerFd"/>, left open
    /// for its caller), <paramref name="root"/> its path for errors. LayerFolder found it readable; a chmod
    /// since then (by the sandbox, rootless) is LayerFolderUnreadable too, never an empty walk.
    /// </summary>
    public static DirectoryDescent OpenLayer(int layerFd, string root)
    {
        var fd = DirectoryCalls.OpenFolder(layerFd, Here);
        if (fd < 0) throw SandboxErrors.LayerFolderUnreadable(root, OpenAt2.ErrorText(-fd));
        var descent = new DirectoryDescent();
        if (!descent.Push(fd, null)) throw SandboxErrors.LayerFolderUnreadable(root, "it is no longer a folder");
        return descent;
    }

    private static readonly byte[] Here = DirectoryCalls.Bytes(".");

    /// <summary>
    /// Opens folder <paramref name="name"/> of the folder <paramref name="parentFd"/> holds (itself a
    /// folder, not a link to one) as the root of the walk; null when it is not there or is not a folder.
    /// How a removal as root starts: from a folder reached beneath the store (StoreEntry), no path again.
    /// </summary>
    public static DirectoryDescent? OpenAt(int parentFd, byte[] name)
    {
        var fd = DirectoryCalls.OpenFolder(parentFd, name);
        if (fd < 0) return null;
        var descent = new DirectoryDescent();
        if (!descent.Push(fd, null)) { descent.Dispose(); return null; }
        return descent;
    }

    /// <summary>How many folders deep the walk is (0 at the root).</summary>
    public int Depth => _levels.Count - 1;

    /// <summary>The descriptor of the current folder (always open).</summary>
    public int Fd => _levels[^1].Fd;

    /// <summary>The current folder relative to the root ("" for the root).</summary>
    public string Relative => RelativeAt(_levels.Count - 1);

    private string RelativeAt(int index)
    {
        var known = index;
        while (known > 0 && _levels[known].Relative is null) known--;
        var relative = known == 0 ? "" : _levels[known].Relative!;
        for (var i = known + 1; i <= index; i++)
        {
            var name = DirectoryCalls.Text(_levels[i].NameInParent!);
            relative = relative.Length == 0 ? name : relative + "/" + name;
            _levels[i].Relative = relative;
        }
        return relative;
    }

    /// <summary>The current folder's name in its parent (null at the root).</summary>
    public byte[]? NameInParent => _levels[^1].NameInParent;

    /// <summary>The relative path of <paramref name="name"/> in the current folder.</summary>
    public string RelativeOf(byte[] name) =>
        Relative.Length == 0 ? DirectoryCalls.Text(name) : Relative + "/" + DirectoryCalls.Text(name);

    /// <summary>The next name of the current folder, or null when it has none left.</summary>
    public byte[]? NextName()
    {
        var level = _levels[^1];
        return level.Next < level.Names.Count ? level.Names[level.Next++] : null;
    }

    /// <summary>Puts <paramref name="name"/> back at the end of the current folder's names (it changed under a removal).</summary>
    public void LookAgain(byte[] name) => _levels[^1].Names.Add(name);

    /// <summary>The current folder's facts, as of its opening.</summary>
    public FileStatus CurrentStatus => _levels[^1].Status;

    /// <summary>
    /// Goes into folder <paramref name="name"/> of the current folder; 0, or -errno when it cannot be
    /// opened (ELOOP or ENOTDIR: it is no longer a folder, it is never followed).
    /// </summary>
    public int Enter(byte[] name)
    {
        var fd = DirectoryCalls.OpenFolder(Fd, name);
        if (fd < 0) return fd;
        return Push(fd, name) ? 0 : -DirectoryCalls.ENOTDIR;
    }

    private bool Push(int fd, byte[]? name)
    {
        if (DirectoryCalls.StatDescriptor(fd) is not { IsDirectory: true } status)
        {
            DirectoryCalls.close(fd);
            return false;
        }
        var names = DirectoryCalls.ReadNames(fd, out _); // an unreadable folder lists as empty
        _levels.Add(new Level { Fd = fd, Status = status, NameInParent = name, Names = names });
        _openCount++;
        if (_openCount > OpenFolderLimit)
        {
            var oldest = _levels[_levels.Count - _openCount]; // the open folders are always the deepest ones
            DirectoryCalls.close(oldest.Fd);
            oldest.Fd = -1;
            _openCount--;
        }
        return true;
    }

    /// <summary>
    /// Back to the parent folder, reopening it from the child as ".." if it was closed. Throws
    /// <see cref="IOException"/> when that is not the folder the walk came from (the sandbox moved
    /// the tree meanwhile); nothing is then touched through it.
    /// </summary>
    public void Leave()
    {
        if (_levels.Count < 2) throw new InvalidOperationException("the root has no parent in the walk");
        var child = _levels[^1];
        var parent = _levels[^2];
        if (parent.Fd < 0)
        {
            var fd = DirectoryCalls.OpenFolder(child.Fd, Parent);
            var status = fd >= 0 ? DirectoryCalls.StatDescriptor(fd) : null;
            if (status is not { } reopened || reopened.Inode != parent.Status.Inode
                || reopened.DeviceMajor != parent.Status.DeviceMajor || reopened.DeviceMinor != parent.Status.DeviceMinor)
            {
                if (fd >= 0) DirectoryCalls.close(fd);
                throw new IOException($"the folder '{RelativeAt(_levels.Count - 2)}' was moved during the walk");
            }
            parent.Fd = fd;
            _openCount++;
        }
        DirectoryCalls.close(child.Fd);
        _openCount--;
        _levels.RemoveAt(_levels.Count - 1);
    }

    public void Dispose()
    {
        foreach (var level in _levels)
            if (level.Fd >= 0) DirectoryCalls.close(level.Fd);
        _levels.Clear();
        _openCount = 0;
    }
}
