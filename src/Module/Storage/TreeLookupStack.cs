using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// A path looked up through a stack of overlay layers (topmost first) with overlayfs's rules, each
/// lookup confined to its layer and following no link (see <see cref="TreeLookup"/>): the topmost
/// layer that has the name decides; a whiteout (0/0 character device) there means the name is
/// deleted; a file, link or whiteout where a folder of the path should be hides that folder in every
/// lower layer; an opaque folder hides what lower layers have under it. The one mechanism behind
/// every host-side look at a stack: Get-SandboxStat -Changes (the image's side), the reads of
/// /etc/passwd and shells (<see cref="SandboxRootReader"/>), FakeChroot's comparison with its image.
/// Folders' answers are cached: a walk asks about many names in few folders.
/// </summary>
internal sealed class TreeLookupStack : IDisposable
{
    private readonly TreeLookup?[] _layers;
    private readonly Dictionary<string, int[]> _folders = new(StringComparer.Ordinal);

    private readonly bool _ownsLayers;

    private TreeLookupStack(TreeLookup?[] layers, bool ownsLayers = true) => (_layers, _ownsLayers) = (layers, ownsLayers);

    /// <summary>
    /// Layers <paramref name="first"/>.. as a stack of their own (the image under a sandbox's upper layer),
    /// sharing this stack's descriptors: valid until this one is disposed, and its own Dispose closes none.
    /// </summary>
    public TreeLookupStack LayersFrom(int first) => new(_layers[first..], ownsLayers: false);

    /// <summary>
    /// A layer that is not there counts as empty; one that is there but cannot be read is
    /// LayerFolderUnreadable. Each layer's folder is opened once, all beneath one open of the store root
    /// when they are in a store (<see cref="LayerFolder.Open(IReadOnlyList{string})"/>); every lookup goes on from those descriptors.
    /// </summary>
    public static TreeLookupStack Open(IEnumerable<string> layers) =>
        new(LayerFolder.Open(layers.ToList()).Select(TreeLookup.Of).ToArray());

    public int Count => _layers.Length;

    /// <summary>The O_PATH descriptor of layer <paramref name="layer"/>'s folder, or -1 when it is not there; valid until the stack is disposed.</summary>
    public int LayerFd(int layer) => _layers[layer]?.Fd ?? -1;

    /// <summary>The facts of <paramref name="relative"/> (no leading '/') as the overlay shows it, or null when it is not there.</summary>
    public FileStatus? Status(string relative) => Find(relative)?.Status;

    /// <summary>The status and the index of the layer it comes from, or null.</summary>
    public (FileStatus Status, int Layer)? Find(string relative)
    {
        relative = relative.Trim('/');
        if (relative.Length == 0) return _layers.Select((l, i) => (l?.Status("."), i)).FirstOrDefault(f => f.Item1 is not null) is ({ } s, var at) ? (s, at) : null;
        var slash = relative.LastIndexOf('/');
        var parent = slash < 0 ? "" : relative[..slash];
        foreach (var layer in Contributing(parent))
        {
            if (_layers[layer]!.Status(relative) is not { } status) continue;
            return status.IsWhiteout ? null : (status, layer);
        }
        return null;
    }

    /// <summary>Whether <paramref name="layer"/> can show anything under the folder <paramref name="folder"/> (no layer above hides it).</summary>
    public bool Reaches(string folder, int layer) => Contributing(folder.Trim('/')).Contains(layer);

    /// <summary>The layers whose copy of <paramref name="folder"/> is part of the merged folder, topmost first.</summary>
    private int[] Contributing(string folder)
    {
        if (_folders.TryGetValue(folder, out var known)) return known;
        int[] result;
        if (folder.Length == 0)
        {
            var all = new List<int>();
            for (var i = 0; i < _layers.Length; i++)
            {
                if (_layers[i] is null) continue;
                all.Add(i);
                if (_layers[i]!.IsOpaqueFolder("")) break;
            }
            result = all.ToArray();
        }
        else
        {
            var slash = folder.LastIndexOf('/');
            var contributing = new List<int>();
            foreach (var layer in Contributing(slash < 0 ? "" : folder[..slash]))
            {
                if (_layers[layer]!.Status(folder) is not { } status) continue;
                if (!status.IsDirectory) break; // a file, link or whiteout hides the folder below
                contributing.Add(layer);
                if (_layers[layer]!.IsOpaqueFolder(folder)) break;
            }
            result = contributing.ToArray();
        }
        _folders[folder] = result;
        return result;
    }

    public void Dispose()
    {
        if (!_ownsLayers) return;
        foreach (var layer in _layers) layer?.Dispose();
    }
}
