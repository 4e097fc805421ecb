using System.Runtime.InteropServices;

namespace Sandbox.Native;

/// <summary>
/// A detached bind mount of a folder this process holds by descriptor: open_tree(fd, "",
/// OPEN_TREE_CLONE | AT_EMPTY_PATH), a copy of the folder's mount rooted at that very folder and
/// attached nowhere yet. A process in another mount namespace that is handed the descriptor can move
/// it onto a folder of its own (mount --no-canonicalize --move /proc/self/fd/N), without any path of
/// the folder being resolved again.
/// <para>The folder must sit in a mount of our namespace (an attached folder): before Linux 6.15 the
/// kernel refuses (EINVAL) to clone from a mount in no namespace, such as another detached mount.</para>
/// </summary>
internal static partial class DetachedBind
{
    private const long SysOpenTree = 428; // the same on every architecture (424+)
    private const uint OpenTreeClone = 1;
    private const uint OpenTreeCloexec = 0x80000;
    private const uint AtEmptyPath = 0x1000;

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, long a1, long a2, long a3, long a4, long a5);

    /// <summary>The new detached mount's descriptor (close-on-exec), or -errno.</summary>
    public static unsafe int Clone(int folderFd)
    {
        byte empty = 0;
        var tree = syscall(SysOpenTree, folderFd, (long)&empty, OpenTreeClone | OpenTreeCloexec | AtEmptyPath, 0, 0);
        return tree >= 0 ? (int)tree : -Marshal.GetLastPInvokeError();
    }
}
