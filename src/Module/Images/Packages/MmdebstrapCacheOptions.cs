using Sandbox.Processes;

namespace Sandbox.Images.Packages;

/// <summary>
/// The mmdebstrap options that wire a build to the package cache, and eatmydata.
/// The packages go in and out through mmdebstrap's special hooks, which the user's own mmdebstrap
/// process serves outside the build's namespace (rootless too): the chroot never sees the store.
/// apt's own cleanup empties the image's /var/cache/apt/archives afterwards, seeded files included.
/// </summary>
internal static class MmdebstrapCacheOptions
{
    public const string EatMyDataHooks = "/usr/share/mmdebstrap/hooks/eatmydata";

    public static IEnumerable<string> For(string seedFolder, string incomingFolder, string listsFolder) => new[]
    {
        // Keep the essential packages mmdebstrap would delete after installing them, so they reach the cache.
        "--skip=essential/unlink",
        "--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives/",
        $"--setup-hook=sync-in {Quote(seedFolder)} /var/cache/apt/archives/",
        $"--customize-hook=sync-out /var/cache/apt/archives {Quote(incomingFolder)}",
        // The signed lists, before mmdebstrap's cleanup deletes them: what the downloads are checked against (PackageIndex).
        $"--customize-hook=sync-out /var/lib/apt/lists {Quote(listsFolder)}",
    };

    /// <summary>
    /// mmdebstrap's own eatmydata hooks when eatmydata is installed here (the hooks need dpkg-architecture):
    /// dpkg then skips its fsync calls during the build, and the hooks take the wrapper out again at the
    /// end (the image keeps no diversion, no dpkg wrapper and no libeatmydata).
    /// </summary>
    public static IEnumerable<string> EatMyData() =>
        ToolLocator.Find("eatmydata") is not null && ToolLocator.Find("dpkg-architecture") is not null
            && Directory.Exists(EatMyDataHooks)
            ? new[] { $"--hook-dir={EatMyDataHooks}" }
            : Array.Empty<string>();

    /// <summary>mmdebstrap splits a special hook's words like a shell (Text::ParseWords): one quoted word.</summary>
    public static string Quote(string path) => "'" + path.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
