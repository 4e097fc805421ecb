using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// Where the store lives and how it is laid out:
/// <c>images/&lt;name&gt;/image.json</c> (older versions' images also <c>rootfs/</c>),
/// <c>layers/&lt;id&gt;/{tree,layer.json}</c>, <c>sandboxes/&lt;id&gt;/state.json</c> and
/// <c>locks/</c>, with a CACHEDIR.TAG at the root so backup tools skip it.
/// Root resolution: $SANDBOX_HOME, else $XDG_DATA_HOME/sandbox, else ~/.local/share/sandbox;
/// root's default is /var/lib/sandbox.
/// </summary>
internal sealed class StoreLayout
{
    private const string CacheDirTag =
        "Signature: 8a477f597d28d172789f06886806bc55\n" +
        "# This file is a cache directory tag created by the Sandbox PowerShell module.\n" +
        "# Its images can be rebuilt with New-SandboxImage.\n";

    public StoreLayout(string root)
    {
        if (!Path.IsPathFullyQualified(root))
            throw SandboxErrors.InvalidPath("The store root", root, "it must be absolute.");
        Root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        // Overlay mount options are separated by ',' and ':'; a store path with those cannot be mounted.
        if (Root.IndexOfAny(new[] { ',', ':' }) >= 0)
            throw SandboxErrors.InvalidPath("The store root", root, "it may not contain ',' or ':'.");
    }

    public string Root { get; }
    public string ImagesFolder => Path.Combine(Root, "images");
    public string SandboxesFolder => Path.Combine(Root, "sandboxes");
    public string LocksFolder => Path.Combine(Root, "locks");
    public string TrashFolder => Path.Combine(Root, "trash");

    /// <summary>The layers folder's name under the root: overlay options name layers relative to the root, to stay short.</summary>
    public const string LayersFolderName = "layers";

    /// <summary>Immutable image layers by content id (see Images.Layers.LayerStore).</summary>
    public string LayersFolder => Path.Combine(Root, LayersFolderName);

    /// <summary>
    /// Every name the store itself uses directly under its root (trash/ holds removed sandboxes' state folders
    /// deleted in the background, see StoreTrash; names/ which sandbox holds which name, see
    /// SandboxNames): the store guard checks each is a folder of the owner, not a link.
    /// </summary>
    public static readonly IReadOnlyList<string> TopLevelFolders = new[] { "images", "sandboxes", "locks", "trash", LayersFolderName, "cache", "names", "names-new" };

    public static StoreLayout Resolve() => new(ResolveRoot(
        Environment.GetEnvironmentVariable, UserIdentity.IsRoot,
        Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), SudoCaller.Current));

    /// <summary>Under sudo the store is the calling user's, under their home, not root's.</summary>
    public static string ResolveRoot(Func<string, string?> getVariable, bool isRoot, string home, SudoCaller? sudo = null)
    {
        if (getVariable("SANDBOX_HOME") is { Length: > 0 } explicitRoot) return explicitRoot;
        if (sudo is not null) return Path.Combine(sudo.Home, ".local", "share", "sandbox");
        if (isRoot) return "/var/lib/sandbox";
        if (getVariable("XDG_DATA_HOME") is { Length: > 0 } dataHome) return Path.Combine(dataHome, "sandbox");
        return Path.Combine(home, ".local", "share", "sandbox");
    }

    /// <summary>
    /// Creates the folders on first use (the sudo caller's, under sudo), all 0700 (see
    /// <see cref="PrivateFiles"/>); a store an older version made world-readable is tightened.
    /// Refuses a store someone else controls first. Cheap afterwards: a few stat calls per folder of its path.
    /// </summary>
    public StoreLayout EnsureCreated() => EnsureCreated(afterFirstCheck: null);

    /// <param name="afterFirstCheck">Runs between the first check and making the missing folders above
    /// the root: where a race with another user in /tmp would happen (tests play that user there).</param>
    internal StoreLayout EnsureCreated(Action? afterFirstCheck)
    {
        var seen = StoreRootGuard.Verify(this); // never create in, or tighten, a store someone else controls
        afterFirstCheck?.Invoke();
        // A missing folder above the root was not checked (there was nothing to check): make them, then
        // check the whole path again before making anything of the store's own inside it.
        if (Path.GetDirectoryName(Root) is { } parent) PrivateFiles.EnsureParents(parent);
        StoreRootGuard.VerifyAfterCreatingParents(this);
        foreach (var folder in new[] { Root, ImagesFolder, SandboxesFolder, LocksFolder, LayersFolder, TrashFolder })
            PrivateFiles.EnsureFolder(folder);
        // A root made just now was never accepted (there was nothing to check): check it once made, so that
        // root's work in it from now on starts from this very folder (StoreEntry, HeldStoreFolder) instead of
        // taking its paths as given, which under sudo let a layer swapped for a link lead root out of the store.
        if (seen.Count == 0) StoreRootGuard.Verify(this);
        WriteCacheDirTag();
        return this;
    }

    /// <summary>
    /// CACHEDIR.TAG, made only if missing and never through a link: O_CREAT|O_EXCL (FileMode.CreateNew)
    /// fails on any existing name, a dangling link included, instead of writing where it points.
    /// </summary>
    private void WriteCacheDirTag()
    {
        var tag = Path.Combine(Root, "CACHEDIR.TAG");
        if (FileStatus.Of(tag) is { } existing)
        {
            if (existing.IsSymbolicLink)
                throw SandboxErrors.StoreNotOwned(Root, $"holds a link CACHEDIR.TAG -> {new FileInfo(tag).LinkTarget}",
                    StoreRootGuard.UserName(StoreRootGuard.StoreOwner));
            return;
        }
        StoreSpace.Write(this, () =>
        {
            FileStream stream;
            try
            {
                stream = new FileStream(tag, new FileStreamOptions
                {
                    Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = PrivateFiles.FileMode,
                });
            }
            // Another engine of the same owner made it first (two first uses at once): theirs will do.
            catch (IOException) when (FileStatus.Of(tag) is { IsSymbolicLink: false }) { return; }
            using (stream)
            using (var writer = new StreamWriter(stream)) writer.Write(CacheDirTag);
        });
        HandOver(tag);
    }

    /// <summary>
    /// What opening a store does: refuses a store someone else controls (see <see cref="StoreRootGuard"/>),
    /// then tightens its folders without creating anything.
    /// </summary>
    public void TightenIfPresent()
    {
        // The guard's check has just read every folder to tighten (stat'ing them again was the second check of each).
        var seen = StoreRootGuard.Verify(this);
        foreach (var folder in new[] { Root, ImagesFolder, SandboxesFolder, LocksFolder, LayersFolder, TrashFolder })
            if (seen.TryGetValue(folder, out var status)) PrivateFiles.Tighten(folder, status);
    }

    /// <summary>Under sudo, gives a bookkeeping file or folder of the store to the calling user.</summary>
    public static void HandOver(string path) => SudoCaller.Current?.HandOver(path);

    public string ImageFolder(string name) => Path.Combine(ImagesFolder, NameRules.RequireValid("image", name));
    public string SandboxFolder(string id) => Path.Combine(SandboxesFolder, NameRules.RequireValid("sandbox", id));
    public string LockFile(string scope, string name) => Path.Combine(LocksFolder, $"{scope}-{name}.lock");
}
