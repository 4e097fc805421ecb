namespace Sandbox;

/// <summary>Root's builds of base images (New-SandboxImage -Suite), run in a mount namespace of their own.</summary>
public static partial class SandboxErrors
{
    /// <summary>
    /// A folder on the way to the mount point a root build's staging folder is mounted on for the builder
    /// (Images.BuildMountPoint) is not root's own folder: the builder would be given a path someone else can change.
    /// </summary>
    public static SandboxException BuildRootUnsafe(string folder, string problem) => new(
        "BuildRootUnsafe", SandboxErrorKind.PermissionDenied,
        $"Refusing to build: {folder}, where the build's folder is mounted for the builder, must be a folder of root's that no other user can change, and {problem}.",
        $"Remove {folder} (rmdir; the module makes it again, owned by root, 0700 below /run/sandbox) and build again.", folder);
}
