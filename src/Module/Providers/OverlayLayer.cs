using Sandbox.Storage;
using Sandbox.Namespaces;
using Sandbox.Native;

namespace Sandbox.Providers;

/// <summary>
/// A sandbox's copy-on-write layer for kernel overlayfs: <c>upper/</c> holds what the sandbox wrote,
/// <c>work/</c> is overlayfs's scratch folder, <c>merged/</c> the mount point of the combined view.
/// The image's layers are only ever lower layers (its own layer on top, its base at the bottom),
/// so nothing a sandbox does can reach them.
/// </summary>
internal sealed class OverlayLayer
{
    public OverlayLayer(string stateFolder, string lowerFolder) : this(stateFolder, new[] { lowerFolder }, "", userXattr: false) { }

    /// <param name="lowers">The image's layer folders, topmost first.</param>
    /// <param name="storeRoot">Where the mount is made from, so its options name the layers by short relative paths (empty: absolute).</param>
    /// <param name="userXattr">Mount with userxattr even as root (the sandbox's recorded flavour, see SandboxInfo.UserXattr).</param>
    public OverlayLayer(string stateFolder, IReadOnlyList<string> lowers, string storeRoot, bool userXattr)
    {
        Upper = Path.Combine(stateFolder, "upper");
        Work = Path.Combine(stateFolder, "work");
        Merged = Path.Combine(stateFolder, "merged");
        Lowers = lowers;
        StoreRoot = storeRoot;
        UserXattr = userXattr;
    }

    public string Upper { get; }
    public string Work { get; }
    public string Merged { get; }

    /// <summary>The folder holding the state folder (the store's sandboxes folder): what the layer's folders are made beneath.</summary>
    private string StateParent => Path.GetDirectoryName(Path.GetDirectoryName(Upper)!)!;

    /// <summary>The topmost lower layer (the image's own layer).</summary>
    public string Lower => Lowers[0];

    /// <summary>The image's layers, topmost first.</summary>
    public IReadOnlyList<string> Lowers { get; }

    /// <summary>The upper layer over every lower one, topmost first: the sandbox's files as a stack of folders.</summary>
    public IReadOnlyList<string> Stack => new[] { Upper }.Concat(Lowers).ToList();

    public string StoreRoot { get; }
    public bool UserXattr { get; }

    public static OverlayLayer Of(SandboxInfo sandbox) =>
        new(sandbox.StatePath, sandbox.LowerLayers.Count > 0 ? sandbox.LowerLayers : new[] { sandbox.ImageRootFs }, sandbox.StoreRoot, sandbox.UserXattr);

    /// <summary>The scratch folders every program expects to be world-writable with the sticky bit.</summary>
    private static readonly string[] ScratchFolders = { "tmp", "var/tmp" };

    public void Create()
    {
        // The upper folder's own mode is the mode of / inside the sandbox (overlayfs takes a merged
        // folder's attributes from its upper copy): the image's, so that users inside can enter /.
        // Other host users are kept out by the 0700 state folder around it (see Storage.PrivateFiles).
        // The image is looked at beneath the store, following no link (TreeLookup): under sudo its layers
        // are the caller's, and a layer swapped for a link must not lend a folder of root's its mode.
        using var image = OpenImage();
        var rootMode = image?.Status(".") is { IsDirectory: true } top ? (UnixFileMode)top.Permissions : (UnixFileMode)0b111_101_101;
        // Made and chmod-ed beneath the store, never through a link (StoreEntry): under sudo the state folder
        // is the caller's, who could plant upper/tmp -> /etc and have root's chmod make /etc 1777.
        StoreEntry.MakeFolder(Upper, rootMode, StateParent);
        StoreEntry.MakeFolder(Work, PrivateFiles.FolderMode, StateParent);
        StoreEntry.MakeFolder(Merged, PrivateFiles.FolderMode, StateParent);
        foreach (var folder in ScratchFolders) CreateScratchFolder(image, folder);
    }

    /// <summary>
    /// The image's top layer to look things up in; null when rootless its owner's own mode closes it (a
    /// derived image whose step ran chmod 000 /: its copy ran as root of a user namespace). Its sandboxes
    /// still start, as from an image without the folders looked up (/ 0755, the scratch folders made:
    /// an upper/ at 000 would refuse them): what is looked up here only shapes the new layer, nothing is
    /// reported from it. Root reads every folder, so this is never taken under sudo.
    /// </summary>
    private TreeLookup? OpenImage()
    {
        try { return TreeLookup.Open(Lower); }
        catch (SandboxException unreadable) when (unreadable.ErrorId == "LayerFolderUnreadable" && ClosedByOwnMode(Lower)) { return null; }
    }

    /// <summary>Rootless, a folder of the user's own whose mode denies them reading or entering it; not any other failure.</summary>
    private static bool ClosedByOwnMode(string folder)
    {
        const uint ReadAndSearch = 0b101_000_000;
        return !UserIdentity.IsRoot && FileStatus.Of(folder) is { IsDirectory: true } status
            && status.Uid == UserIdentity.EffectiveUid && (status.Permissions & ReadAndSearch) != ReadAndSearch;
    }

    /// <summary>
    /// /tmp and /var/tmp are part of the sandbox's layer, as in a container: they persist from one
    /// command to the next and go with the sandbox. Made in the upper layer with mode 1777 even when
    /// the image lacks them or has them with another mode; an image whose scratch folder is a link
    /// (/var/tmp -> /tmp) keeps its link.
    /// </summary>
    private void CreateScratchFolder(TreeLookup? image, string relative)
    {
        if (image?.Status(relative) is { IsDirectory: false }) return;
        var parent = Path.GetDirectoryName(relative)!;
        if (parent.Length > 0 && !Directory.Exists(Path.Combine(Upper, parent)))
        {
            var lowerParent = image?.Status(parent);
            if (lowerParent is { IsDirectory: false }) return;
            // The parent shows the image's mode (its owner is root inside the sandbox, as in the image).
            var mode = lowerParent is { } shown ? (UnixFileMode)shown.Permissions : (UnixFileMode)0b111_101_101;
            StoreEntry.MakeFolder(Path.Combine(Upper, parent), mode, StateParent);
        }
        // sticky, rwx for all (umask does not apply to chmod)
        StoreEntry.MakeFolder(Path.Combine(Upper, relative), (UnixFileMode)0b1_111_111_111, StateParent);
    }

    /// <summary>
    /// The mount options, for a mount made from <see cref="MountFolder"/>: paths under the store are
    /// relative to it, so a chain of 25 layers under a long store path stays well within the one page
    /// mount(2) accepts. In a user namespace overlayfs keeps its metadata in user.* xattrs
    /// (userxattr, kernel 5.11 and newer) because trusted.* needs real root; new sandboxes use
    /// userxattr as root too, so every layer has one format (and userxattr turns off redirect_dir
    /// and metacopy, whose entries another user's overlay could not follow).
    /// </summary>
    public string MountOptions(bool inUserNamespace) =>
        $"lowerdir={string.Join(':', Lowers.Select(Short))},upperdir={Short(Upper)},workdir={Short(Work)}"
        + (inUserNamespace || UserXattr ? ",userxattr" : "");

    /// <summary>The folder a mount using <see cref="MountOptions"/> is made from (its working folder).</summary>
    public string MountFolder => StoreRoot.Length > 0 ? StoreRoot : "/";

    private string Short(string path) =>
        StoreRoot.Length > 0 && path.StartsWith(StoreRoot + "/", StringComparison.Ordinal) ? path[(StoreRoot.Length + 1)..] : path;

    /// <summary>
    /// Mounts the overlay on the host at <see cref="Merged"/> unless it already is (root only). The
    /// caller holds the sandbox's lock, so two commands never mount it twice.
    /// </summary>
    public void EnsureMountedOnHost(string sandboxName, IEngineLog log)
    {
        if (IsMounted) return;
        // The new mount API, one lower layer per call (lowerdir+): no page limit on the chain, and
        // no working folder to change in this multi-threaded process. Logged as the equivalent command.
        log.Verbose($"cd {Processes.ShellQuote.Join(new[] { MountFolder })} && " +
                    Processes.ShellQuote.Join(new[] { "mount", "-t", "overlay", "sandbox-overlay", "-o", MountOptions(false), Merged }));
        // Every folder is handed to the kernel by its descriptor's name, held beneath the store without a
        // link (HeldStoreFolder): under sudo the state folder and the layers are the caller's, who could
        // otherwise swap upper/ for a link to a host folder (overlayfs follows it, and the sandbox writes
        // there), a layer for /etc (the sandbox reads it), or a folder on merged/'s way (mounted over /usr).
        var held = new List<HeldStoreFolder>();
        try
        {
            HeldStoreFolder Hold(string folder)
            {
                var one = HeldStoreFolder.Open(folder);
                held.Add(one);
                return one;
            }
            var lowers = Lowers.Select(lower => Hold(lower).Path).ToList();
            var merged = Hold(Merged);
            if (OverlayMount.Mount(lowers, Hold(Upper).Path, Hold(Work).Path, UserXattr, merged.Path, merged.Fd >= 0 ? merged.Fd : -100) is { } error)
                throw SandboxErrors.SetupFailed("Bubblewrap", sandboxName, $"mounting the overlay on {Merged} failed: {error}");
        }
        finally
        {
            foreach (var one in held) one.Dispose();
        }
    }

    /// <summary>A mount point sits on another device than the folder it is in.</summary>
    public bool IsMounted =>
        FileStatus.Of(Merged) is { } merged && FileStatus.Of(Path.GetDirectoryName(Merged)!) is { } parent
        && (merged.DeviceMajor, merged.DeviceMinor) != (parent.DeviceMajor, parent.DeviceMinor);

    /// <summary>
    /// The sandbox's files as the host may read them without mounting: the upper layer over the
    /// image, every lookup confined to the layer it is made in (see <see cref="SandboxRootReader"/>).
    /// There is deliberately no way to get a host path of a sandbox file: code given one would follow
    /// whatever links the sandbox planted on it.
    /// </summary>
    public SandboxRootReader Reader => new(Stack.ToArray());

    /// <summary>
    /// One walk of the upper layer: the bytes it occupies on disk, and every file the sandbox added,
    /// modified or deleted relative to the image.
    /// </summary>
    public LayerMeasurement Measure(string sandboxName)
    {
        long bytes = 0;
        var changes = new List<SandboxChange>();
        // The upper layer is walked by descriptors and the image looked up without following links:
        // a sandbox racing the walk, or naming a path under an image's absolute link, learns nothing of the host.
        // The upper layer and the image's are opened together, beneath one open of the store root; the
        // upper layer is walked from its descriptor and the image looked up without it (layers 1..).
        using var stack = TreeLookupStack.Open(Stack);
        using var image = stack.LayersFrom(1);
        foreach (var (relative, status) in TreeWalker.Walk(stack.LayerFd(0), Upper))
        {
            bytes += (long)(status.Blocks * 512);
            var inImage = image.Status(relative);
            if (status.IsWhiteout)
                changes.Add(new SandboxChange(sandboxName, "/" + relative, SandboxChangeKind.Deleted, 0));
            else if (inImage is null)
                changes.Add(new SandboxChange(sandboxName, "/" + relative, SandboxChangeKind.Added, (long)status.Size));
            else if (!status.IsDirectory)
                changes.Add(new SandboxChange(sandboxName, "/" + relative, SandboxChangeKind.Modified, (long)status.Size));
        }
        return new LayerMeasurement(bytes, changes);
    }
}
