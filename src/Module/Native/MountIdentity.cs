using System.Globalization;
using System.Runtime.InteropServices;

namespace Sandbox.Native;

/// <summary>
/// Mounts named by identity rather than by path: which mount an open descriptor is on (the mount ID
/// that /proc/self/mountinfo writes first on each line), and the unmount of exactly that mount.
/// A path can be redirected between the moment the mount table names it and the moment it is used
/// (a folder on it renamed and a link put in its place); a descriptor cannot.
/// </summary>
internal static unsafe partial class MountIdentity
{
    private const int AT_EMPTY_PATH = 0x1000;
    private const uint STATX_MNT_ID = 0x1000;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int statx(int dirFd, byte* path, int flags, uint mask, byte* buffer);

    /// <summary>
    /// The mount ID of the mount <paramref name="fd"/> is on: statx's stx_mnt_id (Linux 5.8), else
    /// the "mnt_id:" line of /proc/self/fdinfo (Linux 3.15). Null when neither says.
    /// </summary>
    public static ulong? Of(int fd)
    {
        var buffer = stackalloc byte[256];
        var empty = stackalloc byte[1];
        empty[0] = 0;
        // struct statx (linux/stat.h): stx_mask u32 at 0, stx_mnt_id u64 at 0x90.
        if (statx(fd, empty, AT_EMPTY_PATH, STATX_MNT_ID, buffer) == 0 && (*(uint*)buffer & STATX_MNT_ID) != 0)
            return *(ulong*)(buffer + 0x90);
        return FromFdInfo(fd);
    }

    private static ulong? FromFdInfo(int fd)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/self/fdinfo/{fd.ToString(CultureInfo.InvariantCulture)}"))
                if (line.StartsWith("mnt_id:", StringComparison.Ordinal)
                    && ulong.TryParse(line.AsSpan(7).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var id))
                    return id;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }

    /// <summary>
    /// True when the folder <paramref name="fd"/> holds is the root of a mount (a mount point): its
    /// ".." (which the kernel takes up across a mount's root, and which is never a link) is on
    /// another mount. False too when either mount cannot be told.
    /// </summary>
    public static bool IsMountRoot(int fd)
    {
        var parent = DirectoryCalls.OpenFolder(fd, ParentName);
        if (parent < 0) return false;
        try { return Of(fd) is { } own && Of(parent) is { } above && own != above; }
        finally { DirectoryCalls.close(parent); }
    }

    private static readonly byte[] ParentName = ".."u8.ToArray();

    /// <summary>
    /// Detaches (MNT_DETACH) the mount whose root <paramref name="fd"/> holds, and only it: umount2 of
    /// /proc/self/fd/N, whose magic link the kernel follows to the descriptor's own mount and folder
    /// whatever its path is now (so no UMOUNT_NOFOLLOW, which would stop at the link itself). A
    /// descriptor that is not at a mount's root, or on a mount already detached, is EINVAL: nothing
    /// else is touched. Returns 0 or -errno.
    /// </summary>
    public static int UnmountHeld(int fd)
    {
        if (LibC.umount2($"/proc/self/fd/{fd.ToString(CultureInfo.InvariantCulture)}", LibC.MNT_DETACH) == 0) return 0;
        return -Marshal.GetLastPInvokeError();
    }
}
