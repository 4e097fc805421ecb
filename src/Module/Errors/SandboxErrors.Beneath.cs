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
    /// Root Bubblewrap refusing to run a command: the sandbox's merged/ folder, reached beneath the store
    /// without links, is not the root of the sandbox's overlay mount (see Providers.HeldOverlayRoot).
    /// </summary>
    public static SandboxException OverlayRootUnsafe(string sandbox, string merged, string problem) => new(
        "OverlayRootUnsafe", SandboxErrorKind.PermissionDenied,
        $"Refusing to run a command in the sandbox '{sandbox}': {merged} is not its overlay ({problem}).",
        "A folder of the sandbox was renamed or replaced since its overlay was mounted. Remove the sandbox " +
        "(Remove-Sandbox) and create it again, and check who else can change the store's folders.", sandbox);
}
