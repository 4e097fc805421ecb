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
}
