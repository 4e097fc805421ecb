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
internal static class SafeTreeRemover
{
    public static void Remove(string path, string storeFolder)
    {
        var target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(storeFolder));
        if (!target.StartsWith(root + "/", StringComparison.Ordinal))
            throw SandboxErrors.StoreUnsafe(target, $"it is not inside the store folder {root}.");

        // As root, the tree goes in this process, by descriptors from a folder reached beneath the store
        // (RemoveBeneath), and only so: rm is no fallback for root. rm resolves the path again (under sudo
        // the caller can swap a folder on it for a link meanwhile) and --one-file-system tells mounts by
        // device only, so a same-device bind the caller moves into the tree would be crossed, and any
        // failure of the walk (which a caller or a sandbox still running can provoke) would hand the tree to it.
        if (UserIdentity.IsRoot)
        {
            RemoveBeneath(target, root);
            return;
        }

        var entry = new FileInfo(target);
        if (entry.LinkTarget is not null) { File.Delete(target); return; }
        if (!Directory.Exists(target)) return;

        UnmountBelow(target);

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

    /// <summary>
    /// Root's removal: the folder holding <paramref name="target"/> is reached beneath the store without
    /// following any link (<see cref="StoreEntry"/>), and the entry is looked at, unmounted below and
    /// deleted relative to that folder's descriptor only. Under sudo the store is the caller's, who can
    /// swap <c>images</c> (or any folder on the way) for a link to <c>/var/lib</c> between our check and
    /// our use: that is StoreUnsafe, and nothing outside the store is touched. A link at the end is
    /// deleted as a link; a file is left (as before: a removal deletes folders and links).
    /// </summary>
    private static void RemoveBeneath(string target, string storeFolder)
    {
        using var entry = StoreEntry.OpenParentBeneath(target, storeFolder);
        if (entry is null) return; // its folder is gone: so is it
        var name = entry.NameBytes;
        if (entry.Status() is not { } status) return;
        if (status.IsSymbolicLink)
        {
            var unlinked = DirectoryCalls.Unlink(entry.ParentFd, name, 0);
            if (unlinked != 0 && unlinked != -DirectoryCalls.ENOENT) throw SandboxErrors.RemovalDenied(target, LibC.ErrorText(-unlinked));
            return;
        }
        if (!status.IsDirectory) return;
        UnmountBelow(entry.ParentFd, entry.Name, target);
        try { DeleteTree(entry.ParentFd, name, target); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw SandboxErrors.RemovalDenied(target, e.Message);
        }
    }

    /// <summary>
    /// Removes entry <paramref name="name"/> (a folder, a file, a link: whatever it is) of the folder held
    /// by <paramref name="folderFd"/>, whose path is <paramref name="folderPath"/>. As root the folder is
    /// reached through the descriptor (<see cref="DescriptorPath"/>: in this process's walk and in rm), so
    /// a folder on its path swapped for a link afterwards (under sudo the store is the caller's) is never
    /// followed. A user's own store has nobody else to swap it, and the user's rm runs in a user namespace
    /// of its own, which may not look into our descriptors: the plain path. Throws when the entry is still
    /// there afterwards, whoever failed (rm -f says nothing about a path it could not reach).
    /// </summary>
    public static void RemoveEntry(int folderFd, string folderPath, string name)
    {
        var folder = UserIdentity.IsRoot ? DescriptorPath.Of(folderFd) : folderPath;
        Remove(Path.Combine(folder, name), folder);
        var bytes = DirectoryCalls.Bytes(name);
        if (DirectoryCalls.StatName(folderFd, bytes) is not { } left) return;
        // Remove leaves what is neither a folder nor a link (a file, a FIFO): unlinked here, relative to the folder.
        if (!left.IsDirectory && DirectoryCalls.Unlink(folderFd, bytes, 0) is var unlinked && (unlinked == 0 || unlinked == -DirectoryCalls.ENOENT)) return;
        throw new IOException($"{Path.Combine(folderPath, name)} is still there after its deletion.");
    }

    /// <summary>
    /// Unmounts what is mounted at or below <paramref name="target"/> and refuses (StoreUnsafe) when
    /// something stays: what a removal does before it deletes, and before it moves a folder to the
    /// trash, so that the refusal reaches the caller rather than a background deletion.
    /// </summary>
    public static void UnmountBelow(string target)
    {
        // The folder is held by descriptor from here on (opened once; the path may be one of our
        // descriptors', /proc/PID/fd/N/..., what the trash deletes through), and every mount below it
        // is undone by identity through it (HeldFolderMounts): a folder on a mount point's path swapped
        // for a link after the mount table was read (under sudo the store is the caller's) leads to no
        // unmount elsewhere, and what stays mounted is refused.
        // A link at its end is not followed, unless the path is one of our own descriptors' names.
        var noFollow = DescriptorPath.IsOwnDescriptor(target) ? 0 : OpenAt2.O_NOFOLLOW;
        var held = OpenAt2.Open(DirectoryCalls.AT_FDCWD, target, OpenAt2.O_PATH | OpenAt2.O_DIRECTORY | noFollow, 0);
        UnmountHeld(held, target);
    }

    /// <summary>
    /// <see cref="UnmountBelow(string)"/> for folder <paramref name="name"/> of the folder
    /// <paramref name="parentFd"/> holds (reached beneath the store): opened relative to it, a link never followed.
    /// </summary>
    public static void UnmountBelow(int parentFd, string name, string target) =>
        UnmountHeld(OpenAt2.Open(parentFd, name, OpenAt2.O_PATH | OpenAt2.O_DIRECTORY | OpenAt2.O_NOFOLLOW, 0), target);

    /// <summary>Unmounts below the folder <paramref name="held"/> (an O_PATH descriptor, or -errno from its opening), closes it, and refuses what stays.</summary>
    private static void UnmountHeld(int held, string target)
    {
        IReadOnlyList<MountEntry> left;
        // Only "not there, or not a folder" lets the removal go on unchecked; any other failure
        // (EMFILE, ENAMETOOLONG, no openat2) leaves the mounts below unknown: refused.
        if (held < 0 && held != -DirectoryCalls.ENOENT && held != -DirectoryCalls.ELOOP && held != -DirectoryCalls.ENOTDIR)
            throw SandboxErrors.StoreUnsafe(target, $"it could not be opened to check what is mounted below it ({LibC.ErrorText(-held)}).");
        if (held < 0)
        {
            // Not a folder (gone, or a link): nothing below it is ours to unmount; whatever the table shows under the path as written is refused.
            left = MountTable.Under(MountTable.Read(), target);
        }
        else
        {
            try { left = HeldFolderMounts.UnmountBelow(held, target); }
            finally { OpenAt2.close(held); }
        }
        if (left.Count > 0)
            throw SandboxErrors.StoreUnsafe(target, $"'{left[0].Point}' is still mounted.");
    }

    // A sandbox still running may keep adding names or turning a folder into a file; each time costs a
    // second look, and past this many the removal fails rather than racing for ever.
    private const int MaxSecondLooks = 10_000;

    /// <summary>
    /// Empties and deletes <paramref name="target"/> with unlinkat relative to each folder's
    /// descriptor (<see cref="DirectoryDescent"/>): a folder swapped for a link between its lstat and
    /// its opening is unlinked as the link it has become, never followed, so nothing outside the
    /// tree is ever deleted. Root needs no chmod for folders of mode 000, so no mode changes either.
    /// The depth is bounded only by the file system (the stack is explicit).
    /// <para>Never deletes through a mount, whatever the mount table said before (UnmountBelow): a
    /// folder that is itself a mount point, or one below it on another mount (a bind of a host folder
    /// is on the same device, so the device alone does not tell), is refused with StoreUnsafe, which
    /// no fallback catches. The mount IDs come from the descriptors the walk holds, so no rename of a
    /// folder above or below, between the table's reading and this walk, can lead it into a mount.</para>
    /// </summary>
    internal static void DeleteTree(string target) =>
        DeleteTree(DirectoryCalls.AT_FDCWD, DirectoryCalls.Bytes(target), target);

    /// <summary>
    /// <see cref="DeleteTree(string)"/> of folder <paramref name="name"/> of the folder <paramref name="parentFd"/>
    /// holds: the walk starts from it and the last unlinkat is relative to it, so no path is resolved again
    /// (<paramref name="target"/> only names it in messages).
    /// </summary>
    internal static void DeleteTree(int parentFd, byte[] name, string target)
    {
        for (var listing = 1; ; listing++)
        {
            EmptyTree(parentFd, name, target);
            var removed = DirectoryCalls.Unlink(parentFd, name, DirectoryCalls.AT_REMOVEDIR);
            if (removed == 0 || removed == -DirectoryCalls.ENOENT) return;
            // Names added to the folder itself after it was listed (a process of the sandbox still
            // running): listed and emptied again, a few times.
            if (removed == -DirectoryCalls.ENOTEMPTY && listing < MaxListings) continue;
            throw new IOException($"cannot delete '{target}': {LibC.ErrorText(-removed)}");
        }
    }

    private const int MaxListings = 3;

    /// <summary>Deletes everything in folder <paramref name="folderName"/> of <paramref name="parentFd"/> (see <see cref="DeleteTree(string)"/>).</summary>
    private static void EmptyTree(int parentFd, byte[] folderName, string target)
    {
        using (var descent = DirectoryDescent.OpenAt(parentFd, folderName) ?? throw new IOException($"'{target}' is not a folder"))
        {
            var device = (descent.RootStatus.DeviceMajor, descent.RootStatus.DeviceMinor);
            var mount = MountIdentity.Of(descent.Fd)
                ?? throw SandboxErrors.StoreUnsafe(target, "the mount it is on could not be told, so a mount below it could not be ruled out.");
            if (MountIdentity.IsMountRoot(descent.Fd))
                throw SandboxErrors.StoreUnsafe(target, "it is itself a mount point.");
            var secondLooks = 0;
            while (true)
            {
                var name = descent.NextName();
                if (name is null)
                {
                    if (descent.Depth == 0) break;
                    var emptied = descent.NameInParent!;
                    descent.Leave();
                    RemoveName(descent, emptied, DirectoryCalls.AT_REMOVEDIR, ref secondLooks);
                    continue;
                }
                if (DirectoryCalls.StatName(descent.Fd, name) is not { } status) continue; // gone meanwhile
                if (status.IsDirectory)
                {
                    var entered = descent.Enter(name);
                    if (entered == 0)
                    {
                        if ((descent.CurrentStatus.DeviceMajor, descent.CurrentStatus.DeviceMinor) != device || MountIdentity.Of(descent.Fd) != mount)
                            throw SandboxErrors.StoreUnsafe(target, $"'{descent.Relative}' below it is another mount.");
                        continue;
                    }
                    if (entered == -DirectoryCalls.ENOENT) continue; // gone meanwhile
                    // ELOOP/ENOTDIR: no longer a folder (swapped for a link or a file): unlinked below as what it is now.
                    if (entered != -DirectoryCalls.ELOOP && entered != -DirectoryCalls.ENOTDIR)
                        throw new IOException($"cannot open '{descent.RelativeOf(name)}': {LibC.ErrorText(-entered)}");
                }
                RemoveName(descent, name, 0, ref secondLooks);
            }
        }
    }

    /// <summary>
    /// unlinkat of one name in the current folder. When it changed kind since it was looked at (a file
    /// that is now a folder, a folder that is now a link or has new entries) it is looked at again.
    /// </summary>
    private static void RemoveName(DirectoryDescent descent, byte[] name, int flags, ref int secondLooks)
    {
        var result = DirectoryCalls.Unlink(descent.Fd, name, flags);
        if (result == 0 || result == -DirectoryCalls.ENOENT) return;
        var changed = result is -DirectoryCalls.EISDIR or -DirectoryCalls.ENOTDIR or -DirectoryCalls.ENOTEMPTY or -DirectoryCalls.EEXIST;
        if (changed && secondLooks++ < MaxSecondLooks)
        {
            descent.LookAgain(name);
            return;
        }
        throw new IOException($"cannot delete '{descent.RelativeOf(name)}': {LibC.ErrorText(-result)}");
    }

    private static void Run(string target, IReadOnlyList<string> argv, bool mayFail)
    {
        var outcome = HostCommand.Run(NullEngineLog.Instance, argv);
        if (outcome.ExitCode != 0 && !mayFail)
            throw SandboxErrors.RemovalDenied(target, outcome.StdErr);
    }
}
