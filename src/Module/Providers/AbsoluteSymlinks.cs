namespace Sandbox.Providers;

/// <summary>
/// Without a real chroot the kernel resolves an absolute symlink against the host's root, so
/// /etc/localtime -> /usr/share/zoneinfo/UTC in a fakechroot tree would lead to the host's file (and a
/// write through such a link would land on the host). Rewriting them as relative links keeps every
/// resolution inside the tree.
/// </summary>
internal static class AbsoluteSymlinks
{
    public static int MakeRelative(string root) => Rewrite(root, (link, target) =>
        target.StartsWith('/')
            ? Path.GetRelativePath(Path.GetDirectoryName(link)!, Path.Combine(root, target.TrimStart('/')))
            : null);

    /// <summary>
    /// A tree built under fakechroot (mmdebstrap --mode=fakechroot) has links whose targets carry the
    /// folder it was built in (/var/run -> /build/path/rootfs/run); once the tree moves they dangle.
    /// This makes them the absolute in-image links they were meant to be (/var/run -> /run).
    /// </summary>
    public static int StripBuildRoot(string root, string buildRoot) => Rewrite(root, (_, target) =>
        target.StartsWith(buildRoot + "/", StringComparison.Ordinal) ? target[buildRoot.Length..] : null);

    private static int Rewrite(string root, Func<string, string, string?> newTarget)
    {
        var rewritten = 0;
        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            foreach (var entry in new DirectoryInfo(pending.Pop()).EnumerateFileSystemInfos())
            {
                if (entry.LinkTarget is { } target)
                {
                    if (newTarget(entry.FullName, target) is not { } replacement) continue;
                    File.Delete(entry.FullName);
                    File.CreateSymbolicLink(entry.FullName, replacement);
                    rewritten++;
                }
                else if (entry is DirectoryInfo folder)
                {
                    pending.Push(folder.FullName);
                }
            }
        }
        return rewritten;
    }
}
