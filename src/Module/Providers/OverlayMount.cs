using System.Runtime.InteropServices;
using Sandbox.Native;

namespace Sandbox.Providers;

/// <summary>
/// Mounts an overlay on the host with the new mount API (fsopen, fsconfig, fsmount, move_mount;
/// Linux 6.8+ for lowerdir+): each lower layer is its own fsconfig call, so a chain's length is not
/// bound by the one page the options of mount(2) may take, and nothing depends on a working folder.
/// </summary>
internal static partial class OverlayMount
{
    /// <summary>The source every overlay of ours is mounted with: how the mount table tells them from anyone else's.</summary>
    public const string Source = "sandbox-overlay";

    private const long SysMoveMount = 429, SysFsOpen = 430, SysFsConfig = 431, SysFsMount = 432;
    private const int FsConfigSetFlag = 0, FsConfigSetString = 1, FsConfigCmdCreate = 6;
    private const int CloseOnExec = 1, MoveMountEmptyPath = 0x4, MoveMountTargetEmptyPath = 0x40, AtFdCwd = -100;
    private const long MountAttrReadOnly = 0x1;

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, long a, long b, long c, long d, long e);

    /// <summary>
    /// The overlay mounted nowhere yet: the descriptor of a detached mount (fsmount), which a process
    /// in any mount namespace can move onto a folder of its own (mount --move /proc/self/fd/N). Null
    /// and why it failed otherwise. Its folders are looked up here, in our own mount namespace: overlayfs
    /// refuses a layer whose mount belongs to another (a held folder resolved in a child's namespace).
    /// </summary>
    public static (int Fd, string? Error) MountDetached(IReadOnlyList<string> lowers, string upper, string work, bool userXattr) =>
        Detached(lowers, upper, work, userXattr, attributes: 0);

    /// <summary>
    /// <see cref="MountDetached"/> with lower layers only (two at least: overlayfs wants an upper layer
    /// for one), so the overlay itself is read-only, and its mount made read-only too: the flattened
    /// tree of a chain of layers that an export or copy reads (Images.Layers.HeldFlatTree).
    /// </summary>
    public static (int Fd, string? Error) MountDetachedReadOnly(IReadOnlyList<string> lowers, bool userXattr) =>
        Detached(lowers, upper: null, work: null, userXattr, MountAttrReadOnly);

    private static (int Fd, string? Error) Detached(IReadOnlyList<string> lowers, string? upper, string? work, bool userXattr, long attributes)
    {
        var fsfd = (int)Call(SysFsOpen, "overlay", CloseOnExec);
        if (fsfd < 0) return (-1, "fsopen: " + LastError());
        try
        {
            if (Configure(fsfd, lowers, upper, work, userXattr) is { } failure) return (-1, failure);
            var mountFd = (int)syscall(SysFsMount, fsfd, CloseOnExec, attributes, 0, 0);
            return mountFd < 0 ? (-1, "fsmount: " + LastError()) : (mountFd, null);
        }
        finally { LibC.close(fsfd); }
    }

    /// <summary>Sets the overlay's folders and source on <paramref name="fsfd"/> and creates it: null on success, else why it failed. No upper: read-only.</summary>
    private static string? Configure(int fsfd, IReadOnlyList<string> lowers, string? upper, string? work, bool userXattr)
    {
        string? Set(string key, string? value) =>
            (value is null ? Call(SysFsConfig, fsfd, FsConfigSetFlag, key, null, 0) : Call(SysFsConfig, fsfd, FsConfigSetString, key, value, 0)) < 0
                ? $"fsconfig {key}{(value is null ? "" : "=" + value)}: {LastError()}" : null;
        foreach (var lower in lowers)
            if (Set("lowerdir+", lower) is { } failed) return failed;
        if (upper is not null && work is not null && (Set("upperdir", upper) ?? Set("workdir", work)) is { } noUpper) return noUpper;
        if (Set("source", Source) is { } failure) return failure;
        if (userXattr && Set("userxattr", null) is { } noUserXattr) return noUserXattr;
        return syscall(SysFsConfig, fsfd, FsConfigCmdCreate, 0, 0, 0) < 0 ? "creating the overlay: " + LastError() : null;
    }

    /// <summary>Null on success, else why it failed.</summary>
    /// <param name="targetFd">A descriptor (O_PATH) of the folder to mount on, used instead of <paramref name="target"/>'s path
    /// when given (MOVE_MOUNT_T_EMPTY_PATH): a folder held since it was reached without links.</param>
    public static unsafe string? Mount(IReadOnlyList<string> lowers, string upper, string work, bool userXattr, string target, int targetFd = AtFdCwd)
    {
        var fsfd = (int)Call(SysFsOpen, "overlay", CloseOnExec);
        if (fsfd < 0) return "fsopen: " + LastError();
        try
        {
            if (Configure(fsfd, lowers, upper, work, userXattr) is { } failure) return failure;
            var mountFd = (int)syscall(SysFsMount, fsfd, CloseOnExec, 0, 0, 0);
            if (mountFd < 0) return "fsmount: " + LastError();
            try
            {
                var moved = targetFd == AtFdCwd
                    ? Call(SysMoveMount, mountFd, "", AtFdCwd, target, MoveMountEmptyPath)
                    : Call(SysMoveMount, mountFd, "", targetFd, "", MoveMountEmptyPath | MoveMountTargetEmptyPath);
                return moved < 0 ? "move_mount: " + LastError() : null;
            }
            finally { LibC.close(mountFd); }
        }
        finally { LibC.close(fsfd); }
    }

    private static unsafe long Call(long number, string name, int flags)
    {
        var bytes = DirectoryCalls.Bytes(name);
        fixed (byte* p = bytes) return syscall(number, (long)p, flags, 0, 0, 0);
    }

    private static unsafe long Call(long number, int fd, string path, int flags)
    {
        var bytes = DirectoryCalls.Bytes(path);
        fixed (byte* p = bytes) return syscall(number, fd, (long)p, flags, 0, 0);
    }

    private static unsafe long Call(long number, int fd, int command, string key, string? value, int aux)
    {
        var keyBytes = DirectoryCalls.Bytes(key);
        var valueBytes = value is null ? null : DirectoryCalls.Bytes(value);
        fixed (byte* k = keyBytes)
        fixed (byte* v = valueBytes)
            return syscall(number, fd, command, (long)k, (long)v, aux);
    }

    private static unsafe long Call(long number, int fromFd, string fromPath, int toFd, string toPath, int flags)
    {
        var from = DirectoryCalls.Bytes(fromPath);
        var to = DirectoryCalls.Bytes(toPath);
        fixed (byte* f = from)
        fixed (byte* t = to)
            return syscall(number, fromFd, (long)f, toFd, (long)t, flags);
    }

    private static string LastError() => LibC.ErrorText(Marshal.GetLastPInvokeError());
}
