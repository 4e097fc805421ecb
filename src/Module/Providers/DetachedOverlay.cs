using Sandbox.Native;
using Sandbox.Processes;
using Sandbox.Storage;

namespace Sandbox.Providers;

/// <summary>
/// A sandbox's overlay for one command of a launcher that mounts it in a mount namespace of its own
/// (Nspawn's): mounted here, detached, from its folders held beneath the checked store root without
/// following a link (<see cref="HeldStoreFolder"/>), and handed to the launcher by descriptor, which
/// moves it onto a folder of root's (see CommandLines.OverlayMountCommandLine). No path of the store
/// is resolved after the folders are held.
/// <para>Why: under sudo the state folder and the layers are the caller's. The launcher mounted from
/// store-relative paths, as root: a state folder swapped for a link to a folder of root's made that
/// folder's upper/ the sandbox's (the command wrote there as root), and a layer swapped for a link
/// let the sandbox read a host folder.</para>
/// <para>Why not hand the launcher the held folders: overlayfs refuses a layer whose mount is not in
/// the mounting process's namespace ("failed to clone upperpath"), and the launcher's is a copy.</para>
/// </summary>
internal sealed class DetachedOverlay : IDisposable
{
    private int _fd;

    private DetachedOverlay(int fd) => _fd = fd;

    /// <summary>
    /// Mounts <paramref name="layer"/>'s overlay detached. Throws StoreEntryUnsafe for a link on the way
    /// to any of its folders, SetupFailed when the kernel refuses the mount.
    /// </summary>
    public static DetachedOverlay Mount(OverlayLayer layer, string provider, string sandboxName)
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
            return error is null ? new DetachedOverlay(fd)
                : throw SandboxErrors.SetupFailed(provider, sandboxName, $"mounting the overlay of {layer.Upper} failed: {error}");
        }
        finally
        {
            foreach (var one in held) one.Dispose();
        }
    }

    /// <summary>Adds the mount to what the launcher is spawned holding; the number it names it by.</summary>
    public int PassTo(PassedDescriptors passed) => passed.Pass(_fd);

    public void Dispose()
    {
        if (_fd >= 0) LibC.close(_fd);
        _fd = -1;
    }
}
