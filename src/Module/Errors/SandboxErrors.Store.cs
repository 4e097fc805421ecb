namespace Sandbox;

/// <summary>The store's own failures: its filesystem full, bad export targets, empty import sources, images of the other kind of user.</summary>
public static partial class SandboxErrors
{
    public static SandboxException StoreFull(string storeRoot, Exception? inner = null) => new(
        "StoreFull", SandboxErrorKind.InvalidOperation,
        $"The sandbox store {storeRoot} is full: its filesystem has no space left.",
        "Free space there (Remove-Sandbox, Remove-SandboxImage, or delete large files the sandboxes wrote), " +
        "or move the store to a larger filesystem by setting $env:SANDBOX_HOME.", storeRoot, inner);

    public static SandboxException ExportFormatUnknown(string path) => new(
        "ExportFormatUnknown", SandboxErrorKind.InvalidArgument,
        $"'{path}' does not end in a tarball extension this module writes.",
        "End -Path in .tar, .tar.gz (or .tgz), .tar.zst or .tar.xz.", path);

    public static SandboxException ImageSourceEmpty(string path, string why) => new(
        "ImageSourceEmpty", SandboxErrorKind.InvalidArgument,
        $"'{path}' is not a root filesystem: {why}",
        "Give -Path a root filesystem (a folder or tarball with /bin and files, e.g. made by mmdebstrap or podman export).", path);

    public static SandboxException ImageOwnerMismatch(string image, uint makerUid) => new(
        "ImageOwnerMismatch", SandboxErrorKind.InvalidOperation,
        makerUid == 0
            ? $"Image '{image}' was made by root (sudo), so its files belong to ids that this user's namespace cannot show."
            : $"Image '{image}' was made without root by user id {makerUid} (its root's files belong to that user), so as root its owners would show as UNKNOWN {makerUid}.",
        $"Use it as the user who made it, or make it again as this user: New-SandboxImage -Name {image} ... -Force.", image);

    public static SandboxException ExportTargetExists(string target) => new(
        "ExportTargetExists", SandboxErrorKind.ResourceBusy,
        $"'{target}' already exists.",
        "Add -Force to overwrite it, or choose another -Path.", target);

    /// <summary>rm could not delete a sandbox's or image's folder (files of another user, say).</summary>
    public static SandboxException RemovalDenied(string target, string detail) => new(
        "RemovalDenied", SandboxErrorKind.PermissionDenied,
        $"Could not delete '{target}': {detail.Trim()}",
        "Remove it as the user who created it (or as root).", target);

    /// <summary>The store root itself is not the caller's alone: another user's, a link, open to writing (mode or ACL), not a folder, or holding a link or a foreign folder at a name the store uses.</summary>
    public static SandboxException StoreNotOwned(string storeRoot, string problem, string owner) => new(
        "StoreNotOwned", SandboxErrorKind.PermissionDenied,
        $"Refusing the sandbox store {storeRoot}: it {problem}. Whoever controls it could plant images, " +
        "sandbox records and links there, and read what the sandboxes write.",
        $"Point $env:SANDBOX_HOME at a folder of your own ({owner}) that nobody else can write, or leave it unset " +
        $"for the default (~/.local/share/sandbox; root: /var/lib/sandbox). If {storeRoot} is really yours, check what " +
        $"it holds, then make it a plain folder owned by you with mode 0700 (chown, chmod 700).", storeRoot);

    /// <summary>A folder (or a link) above the store root can be changed by someone other than the caller and root: its owner, mode or ACL.</summary>
    public static SandboxException StorePathUnsafe(string storeRoot, string folder, string problem, string owner) => new(
        "StorePathUnsafe", SandboxErrorKind.PermissionDenied,
        $"Refusing the sandbox store {storeRoot}: the folder {folder} on its path {problem}, so another user " +
        "could rename the store away and put one of their own in its place.",
        $"Keep the store ($env:SANDBOX_HOME) below folders only you ({owner}) and root can change, such as your " +
        $"home (the default, ~/.local/share/sandbox); or, if {folder} is yours, remove group and other write " +
        "access from it (chmod go-w) and ACL entries of other users (setfacl -b), or make it sticky like /tmp " +
        "(chmod +t); a link on the path must belong to you or root.", storeRoot);

    /// <summary>A lock file of the store could not be opened or locked (not a full disk: that is StoreFull).</summary>
    public static SandboxException LockFailed(string lockFile, string detail, Exception? inner = null) => new(
        "LockFailed", SandboxErrorKind.InvalidOperation,
        $"Could not take the store's lock {lockFile}: {detail}",
        "The store needs a local file system with flock (some network file systems refuse it): move it there with " +
        "$env:SANDBOX_HOME; if something other than a lock file has that name, remove it.", lockFile, inner);
}
