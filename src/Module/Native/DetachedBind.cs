using System.Runtime.InteropServices;

namespace Sandbox.Native;

/// <summary>
/// A detached bind mount of a folder: open_tree(OPEN_TREE_CLONE), a copy of the folder's mount rooted
/// at that very folder and attached nowhere yet. A process in another mount namespace that is handed
/// the descriptor can move it onto a folder of its own (mount --no-canonicalize --move /proc/self/fd/N),
/// as an overlay from fsmount is moved, without any path of the folder being resolved again. Only the
/// folder's own mount is cloned (no AT_RECURSIVE): nothing mounted below it comes along.
/// <para>The folder must sit in a mount of our namespace (an attached folder): before Linux 6.15 the
/// kernel refuses (EINVAL) to clone from a mount in no namespace, such as another detached mount.</para>
/// </summary>
internal static unsafe partial class DetachedBind
{
    private const long SysOpenTree = 428, SysMountSetattr = 442; // the same on every architecture (424+)
    private const int AtFdCwd = -100;
    private const uint OpenTreeClone = 1, OpenTreeCloexec = 0x80000, AtEmptyPath = 0x1000, AtSymlinkNoFollow = 0x100;
    public const ulong MountAttrReadOnly = 0x1, MountAttrIdmap = 0x00100000;

    [StructLayout(LayoutKind.Sequential)]
    private struct MountAttr
    {
        public ulong AttrSet;
        public ulong AttrClr;
        public ulong Propagation;
        public ulong UserNsFd;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, long a1, long a2, long a3, long a4, long a5);

    /// <summary>A writable clone of the folder <paramref name="folderFd"/> holds: the new mount's descriptor (close-on-exec), or -errno.</summary>
    public static int Clone(int folderFd)
    {
        byte empty = 0;
        var tree = syscall(SysOpenTree, folderFd, (long)&empty, OpenTreeClone | OpenTreeCloexec | AtEmptyPath, 0, 0);
        return tree >= 0 ? (int)tree : -Marshal.GetLastPInvokeError();
    }

    /// <summary>
    /// A clone of <paramref name="folder"/> (its last component followed or not): the new mount's
    /// descriptor (close-on-exec), or -1 with the error in Marshal.GetLastPInvokeError().
    /// </summary>
    public static int CloneOf(string folder, bool followLast)
    {
        var path = DirectoryCalls.Bytes(folder);
        fixed (byte* pathPointer = path)
            return (int)syscall(SysOpenTree, AtFdCwd, (long)pathPointer, OpenTreeClone | OpenTreeCloexec | (followLast ? 0 : AtSymlinkNoFollow), 0, 0);
    }

    /// <summary>mount_setattr on a detached mount: sets <paramref name="attributes"/> (an idmap's user namespace given as its descriptor); false with the error in Marshal.GetLastPInvokeError().</summary>
    public static bool SetAttributes(int tree, ulong attributes, int userNamespaceFd = 0)
    {
        byte empty = 0;
        var attr = new MountAttr { AttrSet = attributes, UserNsFd = (ulong)userNamespaceFd };
        return syscall(SysMountSetattr, tree, (long)&empty, AtEmptyPath, (long)&attr, sizeof(MountAttr)) == 0;
    }

    /// <summary>
    /// A read-only clone (mount_setattr MOUNT_ATTR_RDONLY): the descriptor, or -1 and why it failed.
    /// <paramref name="folder"/> is followed to the end: it is meant to be a held folder's /proc/PID/fd/N
    /// name (Storage.HeldStoreFolder), whose magic link leads to the folder held, never to what its store
    /// path names now.
    /// </summary>
    public static (int Fd, string? Error) ReadOnlyOf(string folder)
    {
        var tree = CloneOf(folder, followLast: true);
        if (tree < 0) return (-1, "open_tree: " + LastError());
        if (SetAttributes(tree, MountAttrReadOnly)) return (tree, null);
        var error = "mount_setattr(MOUNT_ATTR_RDONLY): " + LastError();
        LibC.close(tree);
        return (-1, error);
    }

    private static string LastError() => LibC.ErrorText(Marshal.GetLastPInvokeError());
}
