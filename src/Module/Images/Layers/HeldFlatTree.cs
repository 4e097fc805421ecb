using Sandbox.Native;
using Sandbox.Storage;

namespace Sandbox.Images.Layers;

/// <summary>
/// Root's flattened tree of an image's layers, mounted detached from the layers held beneath the
/// checked store root without following any link (<see cref="HeldStoreFolder"/>): a read-only overlay
/// of a chain (lowerdir+ per held folder), or a read-only bind of a single layer (overlayfs wants two
/// lower layers without an upper one). <see cref="FlatView"/> hands the mount to its launcher by
/// descriptor, which moves it onto a folder of root's in its private mount namespace: no path of the
/// store is resolved once the layers are held, so a layer the store's owner renames away or swaps for
/// a link afterwards changes nothing of what is read.
/// <para>Why: under sudo the store is the caller's. The overlay was mounted from the layers' store
/// paths (cd store; lowerdir=layers/ID/tree:...) and a single layer given to tar by its path, as root: a
/// layer swapped for a link to a folder of root's (/root, /etc) made that folder part of the tree, and
/// Export-SandboxImage wrote it into the tarball the caller gets.</para>
/// </summary>
internal sealed class HeldFlatTree : IDisposable
{
    private int _fd;

    private HeldFlatTree(int fd) => _fd = fd;

    /// <summary>The detached mount's descriptor, to pass to the launcher (Processes.PassedDescriptors).</summary>
    public int Fd => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(HeldFlatTree));

    /// <summary>
    /// Mounts <paramref name="layers"/> (topmost first). Throws StoreEntryUnsafe for a link on the way to
    /// any of them, FlatViewMountFailed when the kernel refuses the mount.
    /// </summary>
    public static HeldFlatTree Mount(IReadOnlyList<string> layers)
    {
        var held = new List<HeldStoreFolder>();
        try
        {
            foreach (var layer in layers) held.Add(HeldStoreFolder.Open(layer));
            var paths = held.Select(folder => folder.Path).ToList();
            // The kernel resolves each /proc/PID/fd/N name to the held folder here, in our mount namespace.
            var (fd, error) = paths.Count == 1
                ? DetachedBind.ReadOnlyOf(paths[0])
                : Providers.OverlayMount.MountDetachedReadOnly(paths, userXattr: true);
            return error is null ? new HeldFlatTree(fd) : throw SandboxErrors.FlatViewMountFailed(layers[0], error);
        }
        finally
        {
            // The mount holds its layers itself: the folders need not stay open.
            foreach (var folder in held) folder.Dispose();
        }
    }

    public void Dispose()
    {
        if (_fd >= 0) LibC.close(_fd);
        _fd = -1;
    }
}
