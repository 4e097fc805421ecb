using System.Globalization;

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
    /// <paramref name="path"/> as the mount table (/proc/self/mountinfo) names it: a path through one of
    /// our descriptors (<see cref="Of"/>) starts with the descriptor's folder's real path there (readlink
    /// of the descriptor: the kernel's own name for it, relative to our root as mountinfo is); any other
    /// path is returned as given. Null when the descriptor's folder has no name any more (deleted).
    /// </summary>
    public static string? AsMountTableNames(string path)
    {
        var prefix = Prefix.Value;
        if (!path.StartsWith(prefix, StringComparison.Ordinal)) return path;
        var slash = path.IndexOf('/', prefix.Length);
        var number = slash < 0 ? path[prefix.Length..] : path[prefix.Length..slash];
        if (!int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var fd)) return path;
        string? folder;
        try { folder = new FileInfo($"/proc/self/fd/{fd}").LinkTarget; }
        catch (IOException) { return null; }
        if (folder is null || !folder.StartsWith('/') || folder.EndsWith(" (deleted)", StringComparison.Ordinal)) return null;
        return slash < 0 ? folder : Path.TrimEndingDirectorySeparator(folder) + path[slash..];
    }
}
