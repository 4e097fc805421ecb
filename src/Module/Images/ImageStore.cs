using System.Text.Json;
using Sandbox.Images.Layers;
using Sandbox.Native;
using Sandbox.Storage;

namespace Sandbox.Images;

/// <summary>
/// The images of one store. Every build or import runs under a per-name lock (so two processes
/// building one name build once), fills a hidden staging folder, and is published by a rename: an
/// interrupted build leaves only a staging folder, which no reader mistakes for an image, and which
/// the next build of that name, or the next reap of any name, clears away (<see cref="AbandonedFolders"/>).
/// A name's lock file exists only while its image exists or is being built.
/// </summary>
public sealed class ImageStore
{
    private const string ManifestFile = "image.json";
    private const string RootFsFolder = "rootfs";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
    private static readonly string[] ExportSuffixes = { ".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.xz" };

    private readonly StoreLayout _layout;
    private readonly IEngineLog _log;

    internal ImageStore(StoreLayout layout, IEngineLog log)
    {
        _layout = layout;
        _log = log;
        Layers = new LayerStore(layout, log);
    }

    /// <summary>The immutable layers images and sandboxes are stacked from.</summary>
    internal LayerStore Layers { get; }

    public IReadOnlyList<SandboxImage> List()
    {
        if (!Directory.Exists(_layout.ImagesFolder)) return Array.Empty<SandboxImage>();
        return Directory.EnumerateDirectories(_layout.ImagesFolder)
            .Select(Path.GetFileName)
            .Where(NameRules.IsValid) // staging and trash folders start with '.'
            .Select(name => TryGet(name!))
            .OfType<SandboxImage>()
            .OrderBy(image => image.Name, StringComparer.Ordinal)
            .ToList();
    }

    public SandboxImage? TryGet(string name)
    {
        var folder = _layout.ImageFolder(name);
        var manifest = Path.Combine(folder, ManifestFile);
        if (!File.Exists(manifest)) return null;
        var image = JsonSerializer.Deserialize<SandboxImage>(File.ReadAllText(manifest), Json)!;
        // An older version's image is one folder of its own; a layered one is its chain of layers.
        image.LayerFolders = image.Layers.Count == 0
            ? new[] { Path.Combine(folder, RootFsFolder) }
            : image.Layers.Select(Layers.TreeOf).ToList();
        image.RootFs = image.LayerFolders[0];
        return image;
    }

    /// <summary>An image to make sandboxes from or export: it must have been made by this kind of user (see <see cref="ImageOwners"/>).</summary>
    public SandboxImage Get(string name)
    {
        var image = TryGet(NameRules.RequireValid("image", name)) ?? throw SandboxErrors.ImageNotFound(name);
        ImageOwners.RequireUsable(image, UserIdentity.EffectiveUid, SudoCaller.Current);
        return image;
    }

    /// <summary>Imports a folder or tarball; the same source again returns the cached image.</summary>
    public SandboxImage Import(string name, string sourcePath, bool force, CancellationToken cancellation = default)
    {
        var parameters = RootFsImporter.DescribeSource(sourcePath);
        return Publish(name, parameters, force, cancellation, BaseLayer(name, (_, rootfs) =>
        {
            RootFsImporter.Import(name, sourcePath, rootfs, _log, cancellation);
            return "import";
        }));
    }

    /// <summary>Builds with mmdebstrap or debootstrap; the same parameters again return the cached image.</summary>
    public SandboxImage Build(string name, ImageBuildOptions options, bool force, CancellationToken cancellation = default)
    {
        return Publish(name, options.ToParameters(), force, cancellation,
            BaseLayer(name, (filling, rootfs) => DebianBuilder.Build(name, options, filling, rootfs, _layout.Root, _log, cancellation)));
    }

    /// <summary>
    /// Publishes <paramref name="fillLayer"/>'s layer (filled into the tree folder it is given, in
    /// overlayfs's layer format) as image <paramref name="name"/> = <paramref name="parent"/> plus that
    /// layer. What committing a sandbox does (see SandboxEngine.CommitSandbox); the same parameters
    /// again return the cached image without calling <paramref name="fillLayer"/>.
    /// </summary>
    internal SandboxImage PublishDerived(string name, ParentChain parent, Dictionary<string, string> parameters, bool force,
        CancellationToken cancellation, Func<string, string> fillLayer) =>
        Publish(name, parameters, force, cancellation, () =>
        {
            var staging = Layers.NewStaging();
            try { return new LayerSource(staging, fillLayer(LayerStore.StagingTree(staging)), parent); }
            catch { LayerStore.DeleteStaging(staging); throw; }
        });

    /// <summary>
    /// A base image's single layer, filled by a builder or importer in the image's own staging folder
    /// (swept by name like any build's), then moved into a layer staging folder to be published. Both
    /// are ours and held by descriptor while root fills them (<see cref="HeldStagingFolder"/>): an
    /// import's tools are given the held folder's name, a root build's builder a mount of it on a path
    /// of root's in a namespace of its own (<see cref="BuildNamespace"/>), never a path the store's owner could swap.
    /// </summary>
    private Func<LayerSource> BaseLayer(string name, Func<HeldStagingFolder, string, string> fillRootFs) => () =>
    {
        using var filling = HeldStagingFolder.Create(HiddenSibling("staging", name), _layout.ImagesFolder);
        try
        {
            var source = fillRootFs(filling, Path.Combine(filling.Path, RootFsFolder));
            var staging = Layers.NewStaging();
            try { filling.MoveEntryTo(RootFsFolder, staging, LayerStore.TreeFolder); }
            catch { LayerStore.DeleteStaging(staging); throw; }
            return new LayerSource(staging, source, null);
        }
        finally
        {
            filling.Delete();
        }
    };

    /// <summary>What a derived image stands on: the parent's name, its layer ids (topmost first) and its chain of names, as recorded when it was used.</summary>
    internal sealed record ParentChain(string Name, IReadOnlyList<string> Layers, IReadOnlyList<string> Chain);

    /// <summary>A filled layer staging folder, how it was made, and what it stands on (null: a base layer).</summary>
    private sealed record LayerSource(HeldStagingFolder Staging, string Source, ParentChain? Parent);

    /// <summary>
    /// Writes the image's root filesystem to a tarball (compressed by its extension: .tar.zst,
    /// .tar.gz, .tar.xz or plain .tar) with numeric owners, modes, hard and symbolic links, ACLs
    /// and extended attributes, so New-SandboxImage -Path (or podman import) recreates it exactly.
    /// It is written beside the target and renamed, so a half-written file never has the name.
    /// </summary>
    public FileInfo Export(string name, string path, bool force, CancellationToken cancellation = default)
    {
        var target = Path.GetFullPath(path);
        // The compressor is the suffix's (ExportFile.CompressionOptions): any other name would get a plain tar.
        if (!ExportSuffixes.Any(suffix => target.EndsWith(suffix, StringComparison.Ordinal)))
            throw SandboxErrors.ExportFormatUnknown(path);
        var image = Get(name);
        if (File.Exists(target) && !force)
            throw SandboxErrors.ExportTargetExists(target);
        var folder = Path.GetDirectoryName(target)!;
        if (!Directory.Exists(folder))
            throw SandboxErrors.InvalidPath("-Path", path, $"the folder {folder} does not exist.");

        // Made and held by descriptor until it has its name: root never follows a path of the
        // caller's folder again (see ExportFile). Removed if anything below fails.
        using var file = ExportFile.Create(target, path);
        // A derived image is written as its flattened tree (FlatView): no whiteout or opaque marker
        // ever leaves the store, and importing the file gives the tree its sandboxes see.
        _log.Progress($"Exporting image {name}", "writing " + target, 0);
        var outcome = FlatView.Run(_layout, image.LayerFolders, tree => new[] { Processes.ToolLocator.Require("tar", "tar"), "--create" }
            .Concat(ExportFile.CompressionOptions(target))
            .Concat(new[] { "--file", file.TarPath, "--directory", tree, "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls", "--sparse", "." })
            .ToArray(), _log, cancellation);
        if (outcome.ExitCode != 0 || outcome.Cancelled)
        {
            if (outcome.Cancelled) throw new OperationCanceledException(cancellation);
            throw SandboxErrors.ImageBuildFailed(name, "tar", outcome.ExitCode, outcome.StdErr);
        }
        file.Publish(SudoCaller.Current);
        _log.Progress($"Exporting image {name}", "done", 100);
        return new FileInfo(target);
    }

    /// <summary>Deletes an image. The caller has checked that no sandbox uses it (or was told -Force).</summary>
    public void Remove(string name)
    {
        var imageLock = FileLock.Acquire(_layout.LockFile("image", NameRules.RequireValid("image", name)));
        try
        {
            var folder = _layout.ImageFolder(name);
            if (!Directory.Exists(folder)) throw SandboxErrors.ImageNotFound(name);
            // Rename first so the image vanishes at once, even if deleting a large tree takes a while.
            var trash = HiddenSibling("trash", name);
            StoreEntry.Move(folder, trash, _layout.ImagesFolder);
            SafeTreeRemover.Remove(trash, _layout.ImagesFolder);
        }
        finally
        {
            ReleaseLock(imageLock, name);
        }
    }

    /// <summary>
    /// Deletes the hidden folders of builds, imports and removals whose process died, whatever their
    /// image name (what reaping does). A name whose lock is held is being built right now: skipped.
    /// </summary>
    public IReadOnlyList<string> SweepAbandoned()
    {
        var swept = new List<string>();
        foreach (var (folder, image) in AbandonedFolders.All(_layout.ImagesFolder))
        {
            if (FileLock.TryAcquire(_layout.LockFile("image", image), wait: false) is not { } imageLock) continue;
            try
            {
                if (!Directory.Exists(folder)) continue;
                AbandonedFolders.Delete(folder, _layout.ImagesFolder, _log);
                swept.Add(Path.GetFileName(folder));
            }
            finally
            {
                ReleaseLock(imageLock, image);
            }
        }
        swept.AddRange(Layers.SweepAbandoned());
        return swept;
    }

    /// <summary>Releases a name's lock, deleting its file when the name has no image (nor a build under way, which would hold it).</summary>
    private void ReleaseLock(FileLock imageLock, string name)
    {
        if (Directory.Exists(_layout.ImageFolder(name))) imageLock.Dispose();
        else imageLock.DisposeAndDelete();
    }

    /// <summary>Makes a layer with <paramref name="fillLayer"/> and publishes it under <paramref name="name"/>, unless the same parameters are cached.</summary>
    private SandboxImage Publish(string name, Dictionary<string, string> parameters, bool force,
        CancellationToken cancellation, Func<LayerSource> fillLayer)
    {
        NameRules.RequireValid("image", name);
        _layout.EnsureCreated();
        var imageLock = FileLock.Acquire(_layout.LockFile("image", name), cancellation);
        try
        {
            return PublishLocked(name, parameters, force, cancellation, fillLayer);
        }
        finally
        {
            ReleaseLock(imageLock, name);
        }
    }

    private SandboxImage PublishLocked(string name, Dictionary<string, string> parameters, bool force,
        CancellationToken cancellation, Func<LayerSource> fillLayer)
    {
        var existing = TryGet(name);
        if (existing is not null && !force)
        {
            if (SameParameters(existing.Parameters, parameters))
            {
                _log.Verbose($"Image '{name}' is up to date (same parameters); not rebuilding.");
                return existing;
            }
            throw SandboxErrors.ImageExists(name);
        }

        ClearLeftoverStaging(name);
        var layer = fillLayer();
        HeldStagingFolder? staging = null;
        try
        {
            // Hashed before taking the layers lock: the long part, and nothing else can see the staging folder.
            var parentLayers = layer.Parent?.Layers ?? Array.Empty<string>();
            var id = LayerDigest.Of(LayerStore.StagingTree(layer.Staging), parentLayers.FirstOrDefault(), _log, cancellation);
            staging = HeldStagingFolder.Create(HiddenSibling("staging", name), _layout.ImagesFolder);
            // Held from publishing the layer until image.json names it, so no collection sees it unreferenced.
            using var layersLock = Layers.Lock(cancellation);
            var below = parentLayers.Select(parentLayer => Layers.TryGet(parentLayer)
                ?? throw SandboxErrors.LayerMissing(parentLayer, $"image '{layer.Parent!.Name}'")).ToList();
            var own = Layers.Publish(layer.Staging, id, parentLayers.FirstOrDefault());
            var image = new SandboxImage
            {
                Name = name, Source = layer.Source, Created = DateTimeOffset.Now, Parameters = parameters,
                BuilderUid = UserIdentity.EffectiveUid,
                Id = id, Parent = layer.Parent?.Name, ParentId = parentLayers.FirstOrDefault(),
                Layers = new[] { id }.Concat(parentLayers).ToList(),
                Chain = new[] { name }.Concat(layer.Parent?.Chain ?? Array.Empty<string>()).ToList(),
                LayerSize = own.Size, TotalSize = own.Size + below.Sum(l => l.Size),
            };
            // Through the held folder's descriptor (O_CREAT|O_EXCL|O_NOFOLLOW), never by path: see HeldStagingFolder.
            StoreSpace.Write(_layout, () => staging.WriteNewFile(ManifestFile, JsonSerializer.Serialize(image, Json)));
            staging.HandOverEntry(ManifestFile);

            var folder = _layout.ImageFolder(name);
            string? replaced = null;
            if (Directory.Exists(folder))
            {
                replaced = HiddenSibling("trash", name);
                StoreEntry.Move(folder, replaced, _layout.ImagesFolder);
            }
            staging.Publish(folder, _layout.ImagesFolder); // renamed beneath the store root, then handed over
            if (replaced is not null) SafeTreeRemover.Remove(replaced, _layout.ImagesFolder);
            return TryGet(name)!;
        }
        catch
        {
            LayerStore.DeleteStaging(layer.Staging);
            staging?.Delete();
            throw;
        }
        finally
        {
            layer.Staging.Dispose();
            staging?.Dispose();
        }
    }

    /// <summary>
    /// We hold the name's lock, so any staging or trash folder of that name is from a process that
    /// died (or an older version's): kill what still writes into it and delete it.
    /// </summary>
    private void ClearLeftoverStaging(string name)
    {
        foreach (var leftover in AbandonedFolders.Of(_layout.ImagesFolder, name))
            AbandonedFolders.Delete(leftover, _layout.ImagesFolder, _log);
    }

    private string HiddenSibling(string kind, string name) =>
        Path.Combine(_layout.ImagesFolder, AbandonedFolders.NewName(kind, name));

    private static bool SameParameters(Dictionary<string, string> a, Dictionary<string, string> b) =>
        a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var v) && v == kv.Value);
}
