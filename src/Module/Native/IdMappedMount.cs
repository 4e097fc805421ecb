using System.Runtime.InteropServices;
using System.Text;

namespace Sandbox.Native;

/// <summary>
/// Idmapped bind mounts (Linux 5.12+): open_tree(OPEN_TREE_CLONE) detaches a copy of a folder's
/// mount, mount_setattr(MOUNT_ATTR_IDMAP) gives it a user namespace's id map, and move_mount puts
/// it back over the same folder. Seen through it, a file owned by uid k on disk is owned by the
/// host uid the namespace maps k to, and a file made by host uid h lands on disk as the uid the
/// namespace maps to h. Done in a private mount namespace of one thread (see
/// <see cref="InPrivateMountNamespace{T}"/>), so the host never sees these mounts; what that
/// thread spawns inherits them. The syscall numbers are shared by every architecture (424+).
/// </summary>
internal static unsafe partial class IdMappedMount
{
    private const long SysMoveMount = 429;

    private const int AtFdCwd = -100;
    private const uint MoveMountFromEmptyPath = 0x4;

    private const int CloneNewNs = 0x20000;
    private const ulong MsRec = 0x4000;
    private const ulong MsPrivate = 0x40000;

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, long a1, long a2, long a3, long a4, long a5);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int unshare(int flags);

    /// <summary>
    /// Runs <paramref name="action"/> on a thread of its own that first leaves the process's mount
    /// namespace for a private copy (unshare(CLONE_NEWNS) affects only the calling thread, and the
    /// copy's mounts are made private so nothing propagates back to the host). Processes the action
    /// spawns (posix_spawn runs on the calling thread) start in that namespace; it ends with them.
    /// </summary>
    public static T InPrivateMountNamespace<T>(Func<T> action)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                if (unshare(CloneNewNs) != 0) throw Failed("unshare(CLONE_NEWNS)", "/");
                if (LibC.mount(null!, "/", null!, MsRec | MsPrivate, null!) != 0) throw Failed("making the mount namespace private", "/");
                result = action();
            }
            catch (Exception error)
            {
                failure = error;
            }
        }) { IsBackground = true, Name = "sandbox-idmapped-mounts" };
        thread.Start();
        thread.Join();
        if (failure is not null) throw failure;
        return result;
    }

    /// <summary>
    /// Replaces <paramref name="folder"/>, in the calling thread's mount namespace, by a view of
    /// itself idmapped through the user namespace open as <paramref name="userNamespaceFd"/>.
    /// The folder's last component is not followed if it is a link.
    /// </summary>
    public static void MapOver(string folder, int userNamespaceFd)
    {
        var tree = DetachedBind.CloneOf(folder, followLast: false);
        if (tree < 0) throw Failed("open_tree", folder);
        try
        {
            if (!DetachedBind.SetAttributes(tree, DetachedBind.MountAttrIdmap, userNamespaceFd))
                throw Failed("mount_setattr(MOUNT_ATTR_IDMAP)", folder);
            var path = Encoding.UTF8.GetBytes(folder + "\0");
            byte empty = 0;
            fixed (byte* pathPointer = path)
            {
                if (syscall(SysMoveMount, tree, (long)&empty, AtFdCwd, (long)pathPointer, MoveMountFromEmptyPath) != 0)
                    throw Failed("move_mount", folder);
            }
        }
        finally
        {
            LibC.close(tree);
        }
    }

    private static SandboxException Failed(string call, string folder) =>
        SandboxErrors.IdMappedMountFailed(folder, $"{call}: {LibC.ErrorText(Marshal.GetLastPInvokeError())}");
}
