using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// lstat of a relative path inside a folder, following no link anywhere on the way: the parent is
/// opened with openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS from the folder's descriptor, the last name
/// is looked at with AT_SYMLINK_NOFOLLOW. For comparing a sandbox's names with its image: a name the
/// sandbox chose must not lead through an image's absolute link (/var/run -> /run) to a host path,
/// and overlayfs does not merge through a lower link either.
/// </summary>
internal sealed partial class TreeLookup : IDisposable
{
    private readonly int _rootFd;

    private TreeLookup(int rootFd) => _rootFd = rootFd;

    /// <summary>
    /// Null when <paramref name="root"/> is not there (or, outside a store, not a folder). In a store it is
    /// reached beneath the store root without links (<see cref="LayerFolder"/>), StoreEntryUnsafe if it cannot be;
    /// LayerFolderUnreadable when it is there but cannot be read.
    /// </summary>
    public static TreeLookup? Open(string root) => Of(LayerFolder.Open(root));

    /// <summary>A lookup from a folder <see cref="LayerFolder"/> opened (it takes the descriptor over); null for its -ENOENT.</summary>
    public static TreeLookup? Of(int layerFd) => layerFd < 0 ? null : new TreeLookup(layerFd);

    /// <summary>The O_PATH descriptor of the layer's folder: where confined lookups of its files start (<see cref="SandboxRootReader"/>).</summary>
    public int Fd => _rootFd;

    /// <summary>The facts of <paramref name="relative"/> (no leading '/'), or null when it is not there without following a link.</summary>
    public FileStatus? Status(string relative)
    {
        var slash = relative.LastIndexOf('/');
        var name = DirectoryCalls.Bytes(slash < 0 ? relative : relative[(slash + 1)..]);
        if (slash < 0) return DirectoryCalls.StatName(_rootFd, name);
        var parent = OpenAt2.Open(_rootFd, relative[..slash], OpenAt2.O_PATH | OpenAt2.O_DIRECTORY,
            OpenAt2.RESOLVE_BENEATH | OpenAt2.RESOLVE_NO_SYMLINKS | OpenAt2.RESOLVE_NO_MAGICLINKS);
        if (parent < 0) return null;
        try { return DirectoryCalls.StatName(parent, name); }
        finally { DirectoryCalls.close(parent); }
    }

    /// <summary>
    /// Whether the folder <paramref name="relative"/> (reached without following a link) carries
    /// overlayfs's opaque marker: user.overlay.opaque (the store's one layer format, and rootless
    /// uppers) or trusted.overlay.opaque (uppers of root sandboxes made by older versions).
    /// </summary>
    public bool IsOpaqueFolder(string relative)
    {
        var fd = relative.Length == 0 ? -1 : OpenAt2.Open(_rootFd, relative, OpenAt2.O_PATH | OpenAt2.O_DIRECTORY,
            OpenAt2.RESOLVE_BENEATH | OpenAt2.RESOLVE_NO_SYMLINKS | OpenAt2.RESOLVE_NO_MAGICLINKS);
        if (relative.Length != 0 && fd < 0) return false;
        try
        {
            // An O_PATH descriptor takes no fgetxattr; its /proc/self/fd entry names exactly that folder.
            var path = $"/proc/self/fd/{(fd < 0 ? _rootFd : fd)}";
            return OpaqueMarkers.Any(name => OpaqueValue(path, name));
        }
        finally
        {
            if (fd >= 0) DirectoryCalls.close(fd);
        }
    }

    private static readonly string[] OpaqueMarkers = { "user.overlay.opaque", "trusted.overlay.opaque" };

    private static bool OpaqueValue(string path, string name)
    {
        var buffer = new byte[8];
        var size = getxattr(path, name, buffer, (nuint)buffer.Length);
        return size == 1 && buffer[0] == (byte)'y';
    }

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true, StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial nint getxattr(string path, string name, byte[] value, nuint size);

    public void Dispose() => DirectoryCalls.close(_rootFd);
}
