using Sandbox.Namespaces;
using Sandbox.Native;
using Sandbox.Processes;

namespace Sandbox.Storage;

/// <summary>
/// Deletes a folder of the store and nothing else: it refuses paths outside the given store folder,
/// unmounts what is mounted below first (and refuses if something stays mounted, so a bound host
/// folder can never be emptied), never follows a symbolic link, and makes read-only folders made
/// inside a sandbox writable before emptying them.
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

        foreach (var mountPoint in MountTable.MountPointsUnder(target))
            LibC.umount2(mountPoint, LibC.MNT_DETACH);
        var stillMounted = MountTable.MountPointsUnder(target);
        if (stillMounted.Count > 0)
            throw SandboxErrors.StoreUnsafe(target, $"'{stillMounted[0]}' is still mounted.");

        if (MountNamespace.InUserNamespace && UserNamespaces.Available)
        {
            DeleteAsNamespaceRoot(target);
            return;
        }
        try
        {
            DeleteTree(new DirectoryInfo(target));
        }
        catch (UnauthorizedAccessException e)
        {
            throw new SandboxException("RemovalDenied", SandboxErrorKind.PermissionDenied,
                $"Could not delete '{target}': {e.Message}",
                "Remove it as the user who created it (or as root).", target, e);
        }
    }

    /// <summary>
    /// Rootless stores hold files of the user's subordinate ids (images built with mmdebstrap,
    /// sandbox layers), which only root of the user's namespace may delete; rm --one-file-system
    /// does it there, in a fresh mount namespace where nothing is mounted below the target.
    /// </summary>
    private static void DeleteAsNamespaceRoot(string target)
    {
        var argv = MountNamespace.UnsharePrefix();
        argv.AddRange(new[] { ToolLocator.Require("rm", "coreutils"), "-rf", "--one-file-system", "--", target });
        var outcome = HostCommand.Run(NullEngineLog.Instance, argv);
        if (outcome.ExitCode != 0)
            throw new SandboxException("RemovalDenied", SandboxErrorKind.PermissionDenied,
                $"Could not delete '{target}': {outcome.StdErr.Trim()}",
                "Remove it as the user who created it (or as root).", target);
    }

    private static void DeleteTree(DirectoryInfo folder)
    {
        // Folders made read-only (or mode 000, like overlayfs's work/work) must be opened up first.
        const UnixFileMode ownerAll = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        if ((folder.UnixFileMode & ownerAll) != ownerAll)
            folder.UnixFileMode |= ownerAll;

        foreach (var child in folder.EnumerateFileSystemInfos())
        {
            if (child is DirectoryInfo subfolder && child.LinkTarget is null)
                DeleteTree(subfolder);
            else
                File.Delete(child.FullName); // unlink: a link goes, its target stays
        }
        folder.Delete();
    }
}
