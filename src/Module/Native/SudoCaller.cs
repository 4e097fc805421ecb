using System.Globalization;

namespace Sandbox.Native;

/// <summary>
/// The user behind `sudo pwsh`: root does the providers' own work, but what the module makes for
/// that user outside any sandbox (their store's folders and records, exported tarballs, copied-out
/// files) is handed to them, so they can use and delete it without root afterwards.
/// </summary>
internal sealed record SudoCaller(string Name, int Uid, int Gid, string Home)
{
    /// <summary>The sudo caller, when running as root under sudo on behalf of a non-root user.</summary>
    public static SudoCaller? Current { get; } = Detect(Environment.GetEnvironmentVariable, UserIdentity.IsRoot, "/etc/passwd");

    public static SudoCaller? Detect(Func<string, string?> getVariable, bool isRoot, string passwdFile)
    {
        if (!isRoot) return null;
        if (!int.TryParse(getVariable("SUDO_UID"), NumberStyles.None, CultureInfo.InvariantCulture, out var uid) || uid == 0) return null;
        if (!int.TryParse(getVariable("SUDO_GID"), NumberStyles.None, CultureInfo.InvariantCulture, out var gid)) return null;
        var name = getVariable("SUDO_USER") ?? "";
        var home = File.Exists(passwdFile)
            ? File.ReadLines(passwdFile).Select(line => line.Split(':'))
                .FirstOrDefault(f => f.Length >= 6 && f[2] == uid.ToString(CultureInfo.InvariantCulture))?[5]
            : null;
        return home is null ? null : new SudoCaller(name, uid, gid, home);
    }

    /// <summary>
    /// Gives one path (not what a link points to) to the caller, through <see cref="HandOverHeld"/>. A
    /// path inside the store (the caller's own, under sudo) is opened relative to its folder, reached
    /// beneath the store root without following any link (Storage.StoreEntry): the caller owns the
    /// store's folders and could swap one for a link to /etc between our making a file and handing it
    /// over, and lchown by path guards only the last component, so root would give them /etc/shadow.
    /// Such a link is refused (StoreEntryUnsafe), nothing re-owned. Other paths (the store root itself,
    /// which the store guard checked) are opened by path, the last component never followed.
    /// Nothing there (removed meanwhile) is nothing to hand over.
    /// </summary>
    public void HandOver(string path)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        var fd = OpenForHandOver(full);
        if (fd < 0) return;
        try { HandOverHeld(fd, full); }
        finally { OpenAt2.close(fd); }
    }

    private static int OpenForHandOver(string full)
    {
        var flags = OpenFlags.O_PATH | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC;
        if (Storage.StoreEntry.StoreRootOf(full) is not { } root || root == full)
            return OpenAt2.Open(DirectoryCalls.AT_FDCWD, full, flags, 0);
        using var entry = Storage.StoreEntry.OpenParentBeneath(full, root,
            (where, problem) => SandboxErrors.StoreEntryUnsafe(where, "hand over", problem));
        return entry is null ? -OpenAt2.ENOENT : OpenAt2.Open(entry.ParentFd, entry.Name, flags, 0);
    }

    /// <summary>
    /// Gives the caller exactly the inode <paramref name="fd"/> holds (any descriptor: O_PATH, or the
    /// one a file was just written through), never a name looked up again: every hand-over ends here.
    /// A file with more than one hard link is refused (HandOverRefused), left as it is: whoever can
    /// write the folder it is in (the caller, under sudo: their store, their destination) may have
    /// linked one of root's files there, and fchown would give them that file. Nothing the module
    /// makes for the caller has a second name (records, locks and exports are made whole, a copy out
    /// of a sandbox leaves hard links out), so the rule refuses only what someone else linked in.
    /// Folders cannot be hard-linked: their count is their subfolders. <paramref name="path"/> is for
    /// the message only.
    /// </summary>
    public void HandOverHeld(int fd, string path)
    {
        if (DirectoryCalls.StatDescriptor(fd) is not { } status) return;
        // Already the caller's: re-owning it to the owner it has gives nothing away, whatever its links
        // (a caller's own lock file hard-linked by their backups, cp -al or rsnapshot, is not an attack).
        if (status.Uid == (uint)Uid && status.Gid == (uint)Gid) return;
        if (!status.IsDirectory && status.LinkCount > 1) throw SandboxErrors.HandOverRefused(path, status.LinkCount);
        DirectoryCalls.ChangeOwnerOfHeld(fd, Uid, Gid);
    }
}
