using System.Text.Json;
using Sandbox.Native;
using Sandbox.Storage;

namespace Sandbox.Images.Layers;

/// <summary>
/// The store's immutable layers: <c>layers/&lt;id&gt;/{tree,layer.json}</c>, named by content id
/// (<see cref="LayerDigest"/>). Images are named references to a top layer (their image.json lists
/// the chain) and a sandbox records its chain in its state.json, so a layer never changes once
/// published and a rebuilt or removed image name never pulls a layer from under anything.
/// A layer is filled in a hidden staging folder (<c>.staging-layer-PID-START-RANDOM</c>) and published
/// by renaming it to its id: an interrupted publish leaves only a staging folder whose owner is
/// dead, which <see cref="SweepAbandoned"/> deletes. Layers nothing references any more are
/// collected (<see cref="Collect"/>). Publishing and collecting happen under the store's layers
/// lock (<see cref="Lock"/>), which whoever records a reference (an image, a sandbox) holds too.
/// </summary>
internal sealed class LayerStore
{
    public const string TreeFolder = "tree";
    private const string InfoFile = "layer.json";
    private const string StagingName = "layer";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    private readonly StoreLayout _layout;
    private readonly IEngineLog _log;

    public LayerStore(StoreLayout layout, IEngineLog log)
    {
        _layout = layout;
        _log = log;
    }

    public string Folder => _layout.LayersFolder;

    /// <summary>The host folder of a layer's tree (what overlayfs stacks).</summary>
    public string TreeOf(string id) => Path.Combine(LayerFolder(id), TreeFolder);

    /// <summary>A layer's tree relative to the store root: short, for overlay mount options (one page at most).</summary>
    public static string RelativeTree(string id) => Path.Combine(StoreLayout.LayersFolderName, Require(id), TreeFolder);

    private string LayerFolder(string id) => Path.Combine(Folder, Require(id));

    private static string Require(string id) =>
        LayerDigest.LooksLikeId(id) ? id : throw SandboxErrors.LayerMissing(id, "(not a layer id)");

    public bool Exists(string id) => File.Exists(Path.Combine(LayerFolder(id), InfoFile));

    public LayerInfo? TryGet(string id)
    {
        try { return JsonSerializer.Deserialize<LayerInfo>(File.ReadAllText(Path.Combine(LayerFolder(id), InfoFile)), Json); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    /// <summary>Taken around publishing a layer and recording a reference to it, and around collecting.</summary>
    public FileLock Lock(CancellationToken cancellation = default) =>
        FileLock.Acquire(_layout.LockFile("layers", "store"), cancellation);

    /// <summary>
    /// A new, empty staging folder, ours and private until it is published (<see cref="HeldStagingFolder"/>:
    /// under sudo the layers folder is the caller's); the caller fills its <c>tree</c> (see <see cref="StagingTree"/>).
    /// </summary>
    public HeldStagingFolder NewStaging()
    {
        PrivateFiles.EnsureFolder(Folder);
        return HeldStagingFolder.Create(Path.Combine(Folder, AbandonedFolders.NewName("staging", StagingName)), Folder);
    }

    public static string StagingTree(HeldStagingFolder staging) => Path.Combine(staging.Path, TreeFolder);

    /// <summary>
    /// Publishes a filled staging folder as layer <paramref name="id"/> (its digest). The caller holds
    /// <see cref="Lock"/> until it has recorded a reference to the layer. The same content published
    /// before is kept and the staging folder deleted.
    /// </summary>
    public LayerInfo Publish(HeldStagingFolder staging, string id, string? parentId)
    {
        if (TryGet(id) is { } existing)
        {
            staging.Delete();
            return existing;
        }
        var info = new LayerInfo
        {
            Id = id, ParentId = parentId, Size = Measure(StagingTree(staging)), Created = DateTimeOffset.Now,
            BuilderUid = UserIdentity.EffectiveUid,
        };
        // Through the held folder's descriptor, never by path; handed over while only root can enter the folder.
        StoreSpace.Write(_layout, () => staging.WriteNewFile(InfoFile, JsonSerializer.Serialize(info, Json)));
        staging.HandOverEntry(InfoFile);
        // A folder of that id without layer.json is a leftover of an older attempt: not a layer.
        if (Directory.Exists(LayerFolder(id))) Discard(LayerFolder(id));
        staging.Publish(LayerFolder(id), Folder); // renamed beneath the store root, then handed over
        return info;
    }

    /// <summary>Deletes a staging folder of a publish that failed.</summary>
    public static void DeleteStaging(HeldStagingFolder staging)
    {
        staging.Delete();
        staging.Dispose();
    }

    /// <summary>
    /// Deletes every layer not in <paramref name="referenced"/> (the caller holds <see cref="Lock"/>
    /// and gathered the references under it). Returns the ids deleted.
    /// </summary>
    public IReadOnlyList<string> Collect(ISet<string> referenced)
    {
        if (!Directory.Exists(Folder)) return Array.Empty<string>();
        var collected = new List<string>();
        foreach (var folder in Directory.EnumerateDirectories(Folder))
        {
            var id = Path.GetFileName(folder);
            if (!LayerDigest.LooksLikeId(id) || referenced.Contains(id)) continue;
            _log.Verbose($"Removing layer {id[..12]}: no image or sandbox uses it any more.");
            Discard(folder);
            collected.Add(id);
        }
        return collected;
    }

    /// <summary>Deletes the staging and trash folders of layer publishes and removals whose process died.</summary>
    public IReadOnlyList<string> SweepAbandoned()
    {
        var swept = new List<string>();
        foreach (var (folder, _) in AbandonedFolders.All(Folder))
        {
            AbandonedFolders.Delete(folder, Folder, _log);
            swept.Add(Path.GetFileName(folder));
        }
        return swept;
    }

    /// <summary>Renamed first, so the layer vanishes at once, then deleted without following links.</summary>
    private void Discard(string folder)
    {
        var trash = Path.Combine(Folder, AbandonedFolders.NewName("trash", StagingName));
        StoreEntry.Move(folder, trash, Folder);
        SafeTreeRemover.Remove(trash, Folder);
    }

    /// <summary>
    /// Bytes on disk (allocated blocks) of a tree, walked by descriptors. A figure, not a listing: a
    /// rootless commit copies what a command made unreadable to its owner (chmod 000 in the sandbox;
    /// the copy runs as root of a user namespace), and such a folder counts as itself here, not its
    /// contents, rather than refuse the commit (a top folder at 000: 0).
    /// </summary>
    public static long Measure(string tree)
    {
        try { return TreeWalker.Walk(tree, passOverUnreadable: true).Sum(entry => (long)(entry.Status.Blocks * 512)); }
        catch (SandboxException unreadable) when (unreadable.ErrorId == "LayerFolderUnreadable") { return 0; }
    }
}
