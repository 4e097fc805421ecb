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
    /// Gives one path (not what a link points to) to the caller. A path inside the store (the caller's
    /// own, under sudo) is re-owned relative to its folder, reached beneath the
    /// store root without following any link (Storage.StoreEntry, fchownat AT_SYMLINK_NOFOLLOW): the
    /// caller owns the store's folders and could swap one for a link to /etc between our making a file
    /// and handing it over, and lchown by path guards only the last component, so root would give them
    /// /etc/shadow. Such a link is refused (StoreEntryUnsafe), nothing re-owned. Other paths (the store
    /// root itself, an export target or copy-out destination the caller named) keep lchown by path.
    /// </summary>
    public void HandOver(string path)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        if (Storage.StoreEntry.StoreRootOf(full) is not { } root || root == full)
        {
            LibC.lchown(full, Uid, Gid);
            return;
        }
        using var entry = Storage.StoreEntry.OpenParentBeneath(full, root,
            (where, problem) => SandboxErrors.StoreEntryUnsafe(where, "hand over", problem));
        entry?.ChangeOwner(Uid, Gid);
    }

    /// <summary>
    /// Gives a copied-out file or folder, and everything in it, to the caller. The walk never follows
    /// a link (a sandbox may have planted one to / or into an image): only what is really below
    /// <paramref name="path"/> changes owner. Never used on images or sandbox layers.
    /// </summary>
    public void HandOverTree(string path)
    {
        HandOver(path);
        if (FileStatus.Of(path) is not { IsDirectory: true }) return;
        // Each entry is re-owned relative to its folder's descriptor (fchownat, AT_SYMLINK_NOFOLLOW): a
        // folder swapped for a link during the walk has the link re-owned, never what it points to.
        foreach (var entry in Storage.TreeWalker.Entries(path))
            DirectoryCalls.ChangeOwner(entry.FolderFd, entry.Name, Uid, Gid);
    }
}
