using Sandbox.Namespaces;
using Sandbox.Native;
using Sandbox.Processes;

namespace Sandbox.Storage;

/// <summary>
/// Deletes a folder of the store and nothing else: it refuses paths outside the given store folder,
/// unmounts what is mounted below first (and refuses if something stays mounted, so a bound host
/// folder can never be emptied), never follows a symbolic link, and removes any tree a sandbox can
/// make (see <see cref="Remove"/>).
/// </summary>
public static class SafeTreeRemover
{
    public static void Remove(string path, string storeFolder)
    {
        var target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(storeFolder));
        if (!target.StartsWith(root + "/", StringComparison.Ordinal))
            throw SandboxErrors.StoreUnsafe(target, $"it is not inside the store folder {root}.");

        var entry = new FileInfo(target);
        if (entry.LinkTarget is not null) { File.Delete(target); return; }
        if (!Directory.Exists(target)) return;

        var mounted = MountTable.MountPointsUnder(target);
        foreach (var mountPoint in mounted)
            LibC.umount2(mountPoint, LibC.MNT_DETACH);
        // The table is read again only when something was unmounted (the provider's own teardown
        // usually left nothing mounted).
        var stillMounted = mounted.Count == 0 ? mounted : MountTable.MountPointsUnder(target);
        if (stillMounted.Count > 0)
            throw SandboxErrors.StoreUnsafe(target, $"'{stillMounted[0]}' is still mounted.");

        // As root, the common small tree goes in this process, without starting rm.
        if (UserIdentity.IsRoot && TryDeleteTree(new DirectoryInfo(target))) return;

        // rm works on descriptors (openat/unlinkat), so a tree a sandbox made is removed whatever it
        // holds: 5000 nested folders (paths far beyond PATH_MAX), names with newlines or bytes that
        // are not UTF-8, folders of mode 000 or without x. Root, and root of the user's namespace
        // (for the subordinate-id files of rootless layers), override the modes; a user without
        // namespaces opens them up first.
        var argv = new List<string>();
        if (MountNamespace.InUserNamespace && UserNamespaces.Available) argv.AddRange(MountNamespace.UnsharePrefix());
        else if (!UserIdentity.IsRoot) Run(target, new[] { ToolLocator.Require("chmod", "coreutils"), "-R", "u+rwx", "--", target }, mayFail: true);
        argv.AddRange(new[] { ToolLocator.Require("rm", "coreutils"), "-rf", "--one-file-system", "--", target });
        Run(target, argv, mayFail: false);
    }

    /// <summary>False when the tree has what only rm handles (too deep for a path, names .NET cannot spell).</summary>
    private static bool TryDeleteTree(DirectoryInfo folder)
    {
        try
        {
            DeleteTree(folder, depth: 0);
            return true;
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    // Deeper trees go to rm: recursing further could overflow a thread's stack, which no catch survives.
    private const int MaxDepthInProcess = 64;

    private static void DeleteTree(DirectoryInfo folder, int depth)
    {
        if (depth > MaxDepthInProcess) throw new IOException("too deep to remove in process");
        // Folders made read-only (or mode 000, like overlayfs's work/work) must be opened up first.
        const UnixFileMode ownerAll = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        if ((folder.UnixFileMode & ownerAll) != ownerAll)
            folder.UnixFileMode |= ownerAll;

        foreach (var child in folder.EnumerateFileSystemInfos())
        {
            if (child is DirectoryInfo subfolder && child.LinkTarget is null)
                DeleteTree(subfolder, depth + 1);
            else
                File.Delete(child.FullName); // unlink: a link goes, its target stays
        }
        folder.Delete();
    }

    private static void Run(string target, IReadOnlyList<string> argv, bool mayFail)
    {
        var outcome = HostCommand.Run(NullEngineLog.Instance, argv);
        if (outcome.ExitCode != 0 && !mayFail)
            throw new SandboxException("RemovalDenied", SandboxErrorKind.PermissionDenied,
                $"Could not delete '{target}': {outcome.StdErr.Trim()}",
                "Remove it as the user who created it (or as root).", target);
    }
}
