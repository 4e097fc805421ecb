using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// Every entry below a folder with its lstat facts, walked by descriptors (see
/// <see cref="DirectoryDescent"/>): a folder the tree's owner swaps for a link while the walk runs is
/// never followed, so the walk never lists or measures anything outside the tree. A folder that
/// cannot be opened (unreadable, or no longer a folder) is reported but not listed. A walk that
/// cannot finish (a folder moved under it, so going back up would leave the tree) throws
/// TreeChangedDuringWalk: a partial list would let a command racing Get-SandboxStat hide its changes.
/// </summary>
internal static class TreeWalker
{
    public static IEnumerable<(string Relative, FileStatus Status)> Walk(string root) => Walk(root, passOverUnreadable: false);

    /// <summary>
    /// The walk, where <paramref name="passOverUnreadable"/> lets a folder its owner's own mode closes
    /// be listed without its contents (for a size, never for what changed: see <see cref="HiddenByOwnMode"/>).
    /// </summary>
    public static IEnumerable<(string Relative, FileStatus Status)> Walk(string root, bool passOverUnreadable) =>
        Walk(() => DirectoryDescent.Open(root), root, passOverUnreadable).Select(entry => (entry.Relative, entry.Status));

    /// <summary>
    /// One entry of a walk, with the descriptor of its folder and its name there, valid only until
    /// the walk moves on: for acting on exactly that entry (fchownat, unlinkat) and nothing a link leads to.
    /// </summary>
    internal readonly record struct Entry(string Relative, FileStatus Status, int FolderFd, byte[] Name);

    /// <summary>
    /// The walk of a layer folder already open (<paramref name="layer"/>, as <see cref="TreeLookupStack.LayerFd"/>
    /// gives it: -1 when it is not there, walked as empty), <paramref name="root"/> its path for errors:
    /// for a caller that opened it with the rest of its stack, beneath one open of the store root.
    /// </summary>
    public static IEnumerable<(string Relative, FileStatus Status)> Walk(int layer, string root) =>
        layer < 0 ? Enumerable.Empty<(string, FileStatus)>() : Walk(() => DirectoryDescent.OpenLayer(layer, root), root).Select(entry => (entry.Relative, entry.Status));

    internal static IEnumerable<Entry> Entries(string root) => Walk(() => DirectoryDescent.Open(root), root);

    private static IEnumerable<Entry> Walk(Func<DirectoryDescent?> open, string root, bool passOverUnreadable = false)
    {
        using var descent = open();
        if (descent is null) yield break;
        while (true)
        {
            var name = descent.NextName();
            if (name is null)
            {
                if (descent.Depth == 0) yield break;
                Leave(descent, root);
                continue;
            }
            if (DirectoryCalls.StatName(descent.Fd, name, out var statError) is not { } status)
            {
                // A folder listable but not searchable (mode 400).
                if (!passOverUnreadable && HiddenByOwnMode(statError, DirectoryCalls.StatDescriptor(descent.Fd))) throw Unreadable(root, descent.Relative, statError);
                continue; // gone meanwhile
            }
            var relative = descent.RelativeOf(name);
            yield return new Entry(relative, status, descent.Fd, name);
            if (!status.IsDirectory) continue;
            // A folder swapped for a link or a file since the lstat gives ELOOP/ENOTDIR: not followed.
            if (descent.Enter(name) is var entered && !passOverUnreadable && HiddenByOwnMode(-entered, status)) throw Unreadable(root, relative, -entered);
        }
    }

    /// <summary>
    /// Whether a folder could not be read only because of the mode its owner, the walking user, gave
    /// it. Rootless (or FakeChroot) a tree is read with its owner's permissions, and a command in the
    /// sandbox is that owner: its chmod 000 (or 400, or 100) on a folder hid the folder's contents, so
    /// Get-SandboxStat -Changes listed the folder and nothing that changed in it. A folder of one of the
    /// subordinate ids the sandbox's user namespace maps (apt's archives/partial, owned by _apt) is
    /// passed over as before: the user cannot open it at all, and refusing it would fail every rootless
    /// sandbox that ran apt. Its contents stay out of the walk, a known gap: the sandbox's root can chown
    /// a folder to such an id and hide what it puts there; reading it needs the walk to run inside the
    /// user namespace, as the commit's copy does. A folder gone or swapped meanwhile is passed over too.
    /// Root reads every folder.
    /// </summary>
    private static bool HiddenByOwnMode(int errno, FileStatus? folder) =>
        errno is DirectoryCalls.EACCES or DirectoryCalls.EPERM && folder is { } status && status.Uid == UserIdentity.EffectiveUid;

    private static SandboxException Unreadable(string root, string relative, int errno) =>
        SandboxErrors.LayerFolderUnreadable(relative.Length == 0 ? root : Path.Combine(root, relative), OpenAt2.ErrorText(errno));

    /// <summary>Back up one folder; when the tree was moved under the walk it ends there, loudly, rather than go where it cannot check.</summary>
    private static void Leave(DirectoryDescent descent, string root)
    {
        try { descent.Leave(); }
        catch (IOException moved) { throw SandboxErrors.TreeChangedDuringWalk(root, moved.Message); }
    }
}
