using Sandbox.Native;
using Sandbox.Processes;
using Sandbox.Providers.CommandLines;
using Sandbox.Storage;
using static Sandbox.Native.OpenAt2;

namespace Sandbox.Providers;

/// <summary>
/// Root Bubblewrap's overlay as bwrap gets it: merged/ held by descriptor, reached beneath the checked
/// store root without following a link (<see cref="HeldStoreFolder"/>), proven to be the root of one of
/// our overlay mounts, and each -ReadOnlyRoot writable path held beneath that descriptor without a link;
/// bwrap binds the descriptors (--bind-fd, see <see cref="BubblewrapCommandLine"/>), never a path.
/// <para>Why: under sudo the state folder is the caller's. After every check of ours they can rename
/// sandboxes/&lt;id&gt; away and put a folder whose merged is a link to / in its place: bwrap, as root,
/// resolved merged/ again and ran the command, with root's capabilities, on the host's /. A writable
/// path bound as merged/PATH was the same hole one level down.</para>
/// <para>Why the mount check: a real folder the caller put at merged/ is not a link, so holding it
/// proves nothing; only the root of an overlay whose source is ours can be the sandbox's (the caller
/// cannot mount on the host, and the descriptor stays in the store).</para>
/// </summary>
internal sealed class HeldOverlayRoot : IDisposable
{
    private readonly HeldStoreFolder _merged;
    private readonly List<int> _owned = new();
    private readonly List<int> _writablePaths = new();
    private int _root = -1;

    private HeldOverlayRoot(HeldStoreFolder merged) => _merged = merged;

    /// <summary>The overlay's root as a path that leads to the held folder whatever happens to merged/ (for host-side checks).</summary>
    public string Path => DescriptorPath.Of(_root);

    /// <summary>
    /// Holds <paramref name="layer"/>'s merged/ and each of <paramref name="writablePaths"/> below it.
    /// Throws StoreEntryUnsafe for a link on merged/'s way, OverlayRootUnsafe when it is not our overlay's
    /// root, WritablePathSubverted for a writable path that cannot be reached in it without a link.
    /// </summary>
    public static HeldOverlayRoot Hold(OverlayLayer layer, IReadOnlyList<string> writablePaths, string sandboxName)
    {
        var held = new HeldOverlayRoot(HeldStoreFolder.Open(layer.Merged));
        try
        {
            held._root = held._merged.Fd >= 0 ? held._merged.Fd : held.Own(OpenOutsideAnyStore(layer.Merged));
            if (NotOurOverlay(held._root) is { } problem) throw SandboxErrors.OverlayRootUnsafe(sandboxName, layer.Merged, problem);
            foreach (var path in writablePaths)
                held._writablePaths.Add(held.Own(Sandboxes.WritablePathLayer.Hold(held._root, path, nameof(ProviderName.Bubblewrap), sandboxName)));
            return held;
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    /// <summary>Adds the held folders to what bwrap is spawned holding; the numbers it names them by.</summary>
    public HeldBindSources PassTo(PassedDescriptors passed) =>
        new(passed.Pass(_root), _writablePaths.Select(passed.Pass).ToList());

    /// <summary>A path in no store (a test's tree) is not ours to vouch for (HeldStoreFolder): held by its path, not through a link at its end.</summary>
    private static int OpenOutsideAnyStore(string merged)
    {
        var fd = Open(-100, merged, O_PATH | O_DIRECTORY | O_NOFOLLOW, 0);
        return fd >= 0 ? fd : throw new DirectoryNotFoundException($"'{merged}' cannot be opened as a folder: {ErrorText(-fd)}.");
    }

    /// <summary>Null when <paramref name="fd"/> holds the root of an overlay mounted by us (source sandbox-overlay); else what it is.</summary>
    private static string? NotOurOverlay(int fd)
    {
        if (!MountIdentity.IsMountRoot(fd)) return "no file system is mounted there";
        if (MountIdentity.Of(fd) is not { } id) return "its mount cannot be told";
        foreach (var mount in MountTable.Read())
            if (mount.Id == id)
                return mount.FsType == "overlay" && mount.Source == OverlayMount.Source
                    ? null
                    : $"the file system mounted there is {mount.FsType} from '{mount.Source}', not the sandbox's overlay";
        return "its mount is not in the mount table";
    }

    private int Own(int fd)
    {
        _owned.Add(fd);
        return fd;
    }

    public void Dispose()
    {
        foreach (var fd in _owned) close(fd);
        _owned.Clear();
        _merged.Dispose();
    }
}
