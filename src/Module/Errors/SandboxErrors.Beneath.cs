namespace Sandbox;

/// <summary>Root refusing to act on a store path whose folders were swapped for links (see Storage.StoreEntry).</summary>
public static partial class SandboxErrors
{
    /// <summary>A move or change of owner in the store refused: a folder on the way is a link, or the path is outside the store.</summary>
    public static SandboxException StoreEntryUnsafe(string path, string action, string problem) => new(
        "StoreEntryUnsafe", SandboxErrorKind.PermissionDenied,
        $"Refusing to {action} '{path}': {problem}",
        "Check the store's folders: every folder below the store root must be a real folder, not a link. " +
        "Remove any link found there (or set $env:SANDBOX_HOME to a fresh store) and try again.", path);

    /// <summary>
    /// Root would not give a file to the sudo caller because it has other names: a hard link the caller
    /// planted would have root's chown give them the file it shares an inode with (/etc/shadow, say).
    /// </summary>
    public static SandboxException HandOverRefused(string path, uint links) => new(
        "HandOverRefused", SandboxErrorKind.PermissionDenied,
        $"Refusing to give '{path}' to the sudo caller: it has {links} hard links, so it is also some other file, " +
        "maybe one of root's linked in by whoever can write its folder, and changing its owner would give that file away. It is left as it is.",
        "Nothing the module makes has a second name: remove the other links (find / -xdev -samefile '<path>' lists them), " +
        "or use a destination folder only you can write, and try again.", path);

    /// <summary>
    /// Root Bubblewrap refusing to run a command: the sandbox's merged/ folder, reached beneath the store
    /// without links, is not the root of the sandbox's overlay mount (see Providers.HeldOverlayRoot).
    /// </summary>
    public static SandboxException OverlayRootUnsafe(string sandbox, string merged, string problem) => new(
        "OverlayRootUnsafe", SandboxErrorKind.PermissionDenied,
        $"Refusing to run a command in the sandbox '{sandbox}': {merged} is not its overlay ({problem}).",
        "A folder of the sandbox was renamed or replaced since its overlay was mounted. Remove the sandbox " +
        "(Remove-Sandbox) and create it again, and check who else can change the store's folders.", sandbox);
}
