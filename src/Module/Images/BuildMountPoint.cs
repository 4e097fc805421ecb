using Sandbox.Storage;
using static Sandbox.Native.OpenAt2;

namespace Sandbox.Images;

/// <summary>
/// The folder a root build's staging folder is mounted on in the builder's own mount namespace
/// (<see cref="BuildNamespace"/>), and so the path the builder is given: <see cref="Path"/>, in a
/// folder only root may enter, on a path only root may change. Made (when missing) and checked one
/// folder at a time relative to the one before, never following a link.
/// <para>Why a folder of root's: the builders resolve their target by path (mmdebstrap's abs_path,
/// debootstrap's mounts of $TARGET/proc and the like), as root. The staging folder's own path is in
/// the store, whose owner under sudo is the hostile caller; its descriptor's /proc name belongs to
/// a pid another process may take once the engine is gone. This path is neither.</para>
/// </summary>
internal static class BuildMountPoint
{
    /// <summary>Root's folder holding the mount point: 0700, so nobody else can even look at the path.</summary>
    public const string Parent = "/run/sandbox/build";

    public const string Path = Parent + "/root";

    internal const uint SharedFolderMode = RootRunFolders.Shared, PrivateFolderMode = RootRunFolders.Private;

    /// <summary>Makes <see cref="Path"/> and the folders to it when missing; BuildRootUnsafe when any of them is not root's own folder.</summary>
    public static void Ensure() =>
        Ensure("/run", ("sandbox", SharedFolderMode), ("build", PrivateFolderMode), ("root", PrivateFolderMode));

    /// <summary>Makes each of <paramref name="steps"/> (a folder name and its mode, when made) below <paramref name="top"/> (see <see cref="RootRunFolders"/>).</summary>
    internal static void Ensure(string top, params (string Name, uint Mode)[] steps) =>
        close(RootRunFolders.Open(top, create: true, SandboxErrors.BuildRootUnsafe, steps));
}
