using System.Globalization;
using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// A folder this process holds by descriptor, named by a path: <c>/proc/PID/fd/N</c>, with PID this
/// process as /proc counts it. The kernel follows that name to the very folder the descriptor holds,
/// whatever was renamed or swapped for a link on its old path since, so deleting through it never
/// leaves the folder. Unlike <c>/proc/self/fd/N</c>, the name means the same folder in a child we start
/// (rm), which has no descriptor N of its own: there <c>/proc/self</c> is the child, and rm -f of a
/// name that does not exist deletes nothing and says nothing. The child must be allowed to look into
/// our descriptors (same user, same user namespace): root's rm is; a user's rm under unshare is not.
/// </summary>
internal static class DescriptorPath
{
    /// <summary>"/proc/PID/fd/": PID read from /proc/self, so it is this process's pid in the pid namespace of the /proc mounted here.</summary>
    private static readonly Lazy<string> Prefix = new(() =>
        $"/proc/{new FileInfo("/proc/self").LinkTarget ?? Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}/fd/");

    /// <summary>The path naming descriptor <paramref name="fd"/>'s folder, here and in the children of this process.</summary>
    public static string Of(int fd) => Prefix.Value + fd.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// True when <paramref name="path"/> is exactly one of our descriptors' names (<see cref="Of"/>): a
    /// magic link our own descriptor made, to follow, whereas a link anywhere else is not.
    /// </summary>
    public static bool IsOwnDescriptor(string path) =>
        path.StartsWith(Prefix.Value, StringComparison.Ordinal)
        && int.TryParse(path.AsSpan(Prefix.Value.Length), NumberStyles.None, CultureInfo.InvariantCulture, out _);

    /// <summary>
    /// The path by which the mount table (/proc/self/mountinfo) names the folder <paramref name="fd"/>
    /// holds: readlink of /proc/self/fd/N, the kernel's own name for it, relative to our root as
    /// mountinfo is. The name is trusted only if it leads, now, to that very folder (lstat's device and
    /// inode are the descriptor's): a folder renamed meanwhile gives null with <paramref name="deleted"/>
    /// false (look again). Deleted means no name leads to it and its link count is 0; never the
    /// " (deleted)" the kernel appends, which a live folder may carry in its real name.
    /// </summary>
    public static string? MountTableName(int fd, out bool deleted)
    {
        deleted = false;
        if (FileStatus.OfDescriptor(fd) is not { } held) return null;
        var name = CurrentName(fd);
        if (name is not null && name.StartsWith('/') && FileStatus.Of(name) is { } named
            && (named.DeviceMajor, named.DeviceMinor, named.Inode) == (held.DeviceMajor, held.DeviceMinor, held.Inode))
            return name;
        deleted = held.LinkCount == 0;
        return null;
    }

    /// <summary>readlink of /proc/self/fd/N as it is now (no check): to see whether a name read earlier still holds.</summary>
    public static string? CurrentName(int fd)
    {
        try { return new FileInfo($"/proc/self/fd/{fd.ToString(CultureInfo.InvariantCulture)}").LinkTarget; }
        catch (IOException) { return null; }
    }
}
