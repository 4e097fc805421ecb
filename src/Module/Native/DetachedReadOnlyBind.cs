using System.Runtime.InteropServices;

namespace Sandbox.Native;

/// <summary>
/// A folder as a detached, read-only bind mount (open_tree OPEN_TREE_CLONE, then mount_setattr
/// MOUNT_ATTR_RDONLY): mounted nowhere yet, so a process in any mount namespace can move it onto a
/// folder of its own (mount --move /proc/self/fd/N), as an overlay from fsmount is moved. Only the
/// folder's own mount is cloned (no AT_RECURSIVE): nothing mounted below it comes along. The folder
/// must be in this process's mount namespace (before Linux 6.15 the kernel refuses to clone from a
/// detached mount).
/// </summary>
internal static unsafe partial class DetachedReadOnlyBind
{
    private const long SysOpenTree = 428, SysMountSetattr = 442;
    private const int AtFdCwd = -100;
    private const uint AtEmptyPath = 0x1000, OpenTreeClone = 1, OpenTreeCloexec = 0x80000;
    private const ulong MountAttrReadOnly = 0x1;

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

    /// <summary>
    /// The detached mount's descriptor, or -1 and why it failed. <paramref name="folder"/> is followed
    /// to the end: it is meant to be a held folder's /proc/PID/fd/N name (Storage.HeldStoreFolder), whose
    /// magic link leads to the folder held, never to what its store path names now.
    /// </summary>
    public static (int Fd, string? Error) Of(string folder)
    {
        var path = DirectoryCalls.Bytes(folder);
        var empty = DirectoryCalls.Bytes("");
        fixed (byte* pathPointer = path)
        fixed (byte* emptyPointer = empty)
        {
            var tree = (int)syscall(SysOpenTree, AtFdCwd, (long)pathPointer, OpenTreeClone | OpenTreeCloexec, 0, 0);
            if (tree < 0) return (-1, "open_tree: " + LastError());
            var attr = new MountAttr { AttrSet = MountAttrReadOnly };
            if (syscall(SysMountSetattr, tree, (long)emptyPointer, AtEmptyPath, (long)&attr, sizeof(MountAttr)) == 0) return (tree, null);
            var error = "mount_setattr(MOUNT_ATTR_RDONLY): " + LastError();
            LibC.close(tree);
            return (-1, error);
        }
    }

    private static string LastError() => LibC.ErrorText(Marshal.GetLastPInvokeError());
}
