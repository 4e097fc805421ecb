using Sandbox.Native;
using Sandbox.Processes;
using Sandbox.Providers.CommandLines;
using Sandbox.Storage;
using static Sandbox.Native.OpenAt2;

namespace Sandbox.Providers;

/// <summary>
/// A sandbox's overlay for one command of a launcher that mounts it in a mount namespace of its own
/// (Nspawn's): mounted here, detached, from its folders held beneath the checked store root without
/// following a link (<see cref="HeldStoreFolder"/>), and handed to the launcher by descriptor, which
/// moves it onto a folder of root's (see CommandLines.OverlayMountCommandLine). Each -ReadOnlyRoot
/// writable path is reached in it without a link and handed over as that folder's descriptor, which
/// the launcher binds once the overlay is moved into its namespace. No path of the store, and no path
/// in the overlay, is resolved afterwards.
/// <para>Why not a detached clone of each writable folder: open_tree(OPEN_TREE_CLONE) of a folder in a
/// detached mount is refused before Linux 6.15 (EINVAL: the mount is in no namespace of ours), while a
/// bind of the held folder once its mount is in the launcher's namespace works on every kernel.</para>
/// <para>Why: under sudo the state folder and the layers are the caller's. The launcher mounted from
/// store-relative paths, as root: a state folder swapped for a link to a folder of root's made that
/// folder's upper/ the sandbox's (the command wrote there as root), and a layer swapped for a link
/// let the sandbox read a host folder. nspawn bound a writable path from a view of the overlay by
/// path, following a link the caller put in upper/ to a host folder, bound writable.</para>
/// <para>Why not hand the launcher the held folders: overlayfs refuses a layer whose mount is not in
/// the mounting process's namespace ("failed to clone upperpath"), and the launcher's is a copy.</para>
/// </summary>
internal sealed class DetachedOverlay : IDisposable
{
    private readonly List<int> _writablePaths = new();
    private int _root;

    private DetachedOverlay(int root) => _root = root;

    /// <summary>
    /// Mounts <paramref name="layer"/>'s overlay detached and holds each of <paramref name="writablePaths"/> in it. Throws StoreEntryUnsafe for a link on the way to any of
    /// its folders, WritablePathSubverted for a writable path that cannot be reached in it without a
    /// link, SetupFailed when the kernel refuses a mount.
    /// </summary>
    public static DetachedOverlay Mount(OverlayLayer layer, IReadOnlyList<string> writablePaths, string sandboxName)
    {
        var overlay = new DetachedOverlay(MountHeld(layer, sandboxName));
        try
        {
            foreach (var path in writablePaths) overlay._writablePaths.Add(Sandboxes.WritablePathLayer.Hold(overlay._root, path, nameof(ProviderName.Nspawn), sandboxName));
            return overlay;
        }
        catch
        {
            overlay.Dispose();
            throw;
        }
    }

    /// <summary>Adds the mounts to what the launcher is spawned holding; the numbers it names them by.</summary>
    public HeldBindSources PassTo(PassedDescriptors passed) =>
        new(passed.Pass(_root), _writablePaths.Select(passed.Pass).ToList());

    private static int MountHeld(OverlayLayer layer, string sandboxName)
    {
        var held = new List<HeldStoreFolder>();
        try
        {
            string Hold(string folder)
            {
                var one = HeldStoreFolder.Open(folder);
                held.Add(one);
                return one.Path;
            }
            var lowers = layer.Lowers.Select(Hold).ToList();
            var (fd, error) = OverlayMount.MountDetached(lowers, Hold(layer.Upper), Hold(layer.Work), layer.UserXattr);
            return error is null ? fd
                : throw SandboxErrors.SetupFailed(nameof(ProviderName.Nspawn), sandboxName, $"mounting the overlay of {layer.Upper} failed: {error}");
        }
        finally
        {
            foreach (var one in held) one.Dispose();
        }
    }

    public void Dispose()
    {
        foreach (var fd in _writablePaths) close(fd);
        _writablePaths.Clear();
        if (_root >= 0) close(_root);
        _root = -1;
    }
}
