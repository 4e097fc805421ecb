using System.Runtime.InteropServices;
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

    internal const uint SharedFolderMode = 0b111_101_101, PrivateFolderMode = 0b111_000_000;
    private const uint WritableByOthers = 0b000_010_010, OpenToOthers = 0b000_111_111;

    /// <summary>Makes <see cref="Path"/> and the folders to it when missing; BuildRootUnsafe when any of them is not root's own folder.</summary>
    public static void Ensure() =>
        Ensure("/run", ("sandbox", SharedFolderMode), ("build", PrivateFolderMode), ("root", PrivateFolderMode));

    /// <summary>
    /// Makes each of <paramref name="steps"/> (a folder name and its mode, when made) in the one before,
    /// from <paramref name="top"/> (the system's, never made here) down, relative to the one before and
    /// never following a link; each must be root's, and not writable by others (0700 ones: not open to them).
    /// </summary>
    internal static void Ensure(string top, params (string Name, uint Mode)[] steps)
    {
        var folder = Open(-100 /* AT_FDCWD */, top, O_PATH | O_DIRECTORY | O_NOFOLLOW, 0);
        if (folder < 0) throw SandboxErrors.BuildRootUnsafe(top, $"it is a link or not a folder ({ErrorText(-folder)})");
        var path = top;
        try
        {
            Check(folder, path, SharedFolderMode);
            foreach (var (name, mode) in steps)
            {
                path += "/" + name;
                // EEXIST is the usual case after the first build.
                if (mkdirat(folder, name, mode) != 0 && Marshal.GetLastPInvokeError() is var errno && errno != EEXIST)
                    throw SandboxErrors.BuildRootUnsafe(path, "it could not be made: " + ErrorText(errno));
                var next = Open(folder, name, O_PATH | O_DIRECTORY | O_NOFOLLOW, 0);
                if (next < 0) throw SandboxErrors.BuildRootUnsafe(path, $"it is a link or not a folder ({ErrorText(-next)})");
                close(folder);
                folder = next;
                Check(folder, path, mode);
            }
        }
        finally
        {
            close(folder);
        }
    }

    private static void Check(int folder, string path, uint mode)
    {
        if (StatOf(folder) is not { } seen || seen.Uid != 0)
            throw SandboxErrors.BuildRootUnsafe(path, "it is not root's");
        var forbidden = mode == PrivateFolderMode ? OpenToOthers : WritableByOthers;
        if ((seen.Permissions & forbidden) != 0)
            throw SandboxErrors.BuildRootUnsafe(path, $"its mode is {Convert.ToString(seen.Permissions, 8)}, open to other users");
    }
}
