namespace Sandbox;

/// <summary>The .deb package cache of base builds (STORE/cache/apt).</summary>
public static partial class SandboxErrors
{
    /// <summary>A folder of the package cache is a link, not a folder, or someone else's: its packages would go into images.</summary>
    public static SandboxException PackageCacheUnsafe(string folder) => new(
        "PackageCacheUnsafe", SandboxErrorKind.PermissionDenied,
        $"Refusing the package cache folder {folder}: it is not a folder of the store's owner (a link, a file, or another user's), " +
        "and whatever it holds would be installed into new images.",
        $"Delete {folder} (rm -rf; nothing but downloaded packages is lost) and build again.", folder);
}
