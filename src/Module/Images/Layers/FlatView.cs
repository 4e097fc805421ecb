using Sandbox.Namespaces;
using Sandbox.Native;
using Sandbox.Processes;
using Sandbox.Storage;

namespace Sandbox.Images.Layers;

/// <summary>
/// The flattened tree of a chain of layers, where one tree is needed (an export, a FakeChroot copy):
/// the kernel's own overlay of the layers, read-only, mounted in a private mount namespace that
/// lives only as long as the command reading it. So whiteouts and opaque markers mean exactly what
/// they mean in a sandbox and never appear in what the command reads.
/// <para>As root (under sudo the store is the caller's) the layers are held beneath the store root and
/// mounted detached by the engine (<see cref="HeldFlatTree"/>; a single layer as a read-only bind), and
/// the launcher moves that mount onto <see cref="MountPoint"/>, a folder of root's: the command reads a
/// path nobody but root can redirect, over layers nobody can swap any more.</para>
/// <para>Rootless the layers are mounted by their paths inside the user's namespace with the sandboxes'
/// id mapping, on a staging folder of the store, and a single layer is read where it is. The held way
/// cannot work there: the engine has no right to mount (fsopen needs CAP_SYS_ADMIN over its mount
/// namespace, and a .NET process cannot enter a user namespace of its own), and overlayfs refuses a
/// held folder whose mount is in another namespace than the mounting process's. Nor is it needed: the
/// store is the user's own, nobody else may change its folders (StoreRootGuard), and whatever a link
/// of theirs leads to is read with their own rights.</para>
/// </summary>
internal static class FlatView
{
    /// <summary>
    /// Where root's launcher puts the flattened tree in its private mount namespace: a folder of root's
    /// under /run (only root can write /run and /run/sandbox, so no link can be planted on the way), made
    /// by the first export, beside Nspawn's root (Providers.CommandLines.NspawnCommandLine.RootMountPoint).
    /// Exports at once each mount on it in a namespace of their own.
    /// </summary>
    public const string MountPoint = "/run/sandbox/flat-view";

    // Root: $1 = /proc/self/fd/N holding the detached tree, moved onto $2, then the command. --no-canonicalize:
    // mount hands the kernel the magic link itself, which it follows to the held mount (see OverlayMountCommandLine).
    private static readonly string MoveThenExec =
        "fail() { echo \"" + Providers.OverlayLauncher.SetupMarker + " $1\" >&2; exit " + Providers.OverlayLauncher.SetupExitCode + "; }; " +
        "{ [ -d \"$2\" ] || mkdir -p \"$2\"; } && mount --no-canonicalize --move \"$1\" \"$2\" || fail \"could not move the image's layers onto $2\"; " +
        "cd /; shift 2; exec \"$@\"";

    // Rootless: $1 = store root (the lower layers are named relative to it), $2 = options, $3 = mount point, then the command.
    private const string MountThenExec =
        "cd \"$1\" || exit 125; mount -t overlay sandbox-flat -o \"$2\" \"$3\" || { echo \"sandbox-setup: could not mount the layers on $3\" >&2; exit 125; }; " +
        "cd /; shift 3; exec \"$@\"";

    /// <summary>
    /// Runs <paramref name="command"/> (given the flattened tree's path) over the chain
    /// <paramref name="layers"/> (topmost first). Throws StoreEntryUnsafe (root) when a layer is reached
    /// through a link.
    /// </summary>
    public static ProcessOutcome Run(StoreLayout layout, IReadOnlyList<string> layers, Func<string, IReadOnlyList<string>> command,
        IEngineLog log, CancellationToken cancellation) =>
        UserIdentity.IsRoot ? RunHeld(layers, command, log, cancellation) : RunByPath(layout, layers, command, log, cancellation);

    /// <summary>Root: the held layers' detached mount, moved onto <see cref="MountPoint"/> in the launcher's private mount namespace.</summary>
    private static ProcessOutcome RunHeld(IReadOnlyList<string> layers, Func<string, IReadOnlyList<string>> command,
        IEngineLog log, CancellationToken cancellation)
    {
        using var tree = HeldFlatTree.Mount(layers);
        var passed = new PassedDescriptors();
        var argv = AbandonedFolders.DieWithUs().ToList();
        argv.AddRange(new[] { ToolLocator.Require("unshare", "util-linux"), "--mount", "--propagation", "private", "--" });
        argv.AddRange(new[] { ToolLocator.Require("sh", "dash"), "-c", MoveThenExec, "sandbox-flat",
            Providers.CommandLines.OverlayMountCommandLine.DescriptorName(passed.Pass(tree.Fd)), MountPoint });
        argv.AddRange(command(MountPoint));
        return HostCommand.Run(log, argv, cancellation: cancellation, passed: passed);
    }

    /// <summary>
    /// Rootless (see the class): the layers mounted by their store paths on an empty staging folder of
    /// the layer store, deleted afterwards (or swept if we die); a single layer read where it is.
    /// </summary>
    private static ProcessOutcome RunByPath(StoreLayout layout, IReadOnlyList<string> layers, Func<string, IReadOnlyList<string>> command,
        IEngineLog log, CancellationToken cancellation)
    {
        if (layers.Count == 1) return HostCommand.Run(log, AbandonedFolders.DieWithUs().Concat(command(layers[0])).ToList(), cancellation: cancellation);
        var store = new LayerStore(layout, log);
        var mountPoint = store.NewStaging();
        try
        {
            var argv = AbandonedFolders.DieWithUs().ToList();
            argv.AddRange(MountNamespace.UnsharePrefix());
            argv.AddRange(new[] { ToolLocator.Require("sh", "dash"), "-c", MountThenExec, "sandbox-flat", layout.Root, Options(layout.Root, layers), mountPoint.StorePath });
            // By its store path, not its descriptor's name: /proc/PID/fd/N leads to the folder itself, under the
            // overlay mounted on it, so the command would read an empty folder.
            argv.AddRange(command(mountPoint.StorePath));
            return HostCommand.Run(log, argv, cancellation: cancellation);
        }
        finally
        {
            LayerStore.DeleteStaging(mountPoint);
        }
    }

    /// <summary>Read-only, userxattr (the store's one layer format), lower layers relative to the store root.</summary>
    internal static string Options(string storeRoot, IReadOnlyList<string> layers) =>
        "ro,userxattr,lowerdir=" + string.Join(':', layers.Select(layer =>
            layer.StartsWith(storeRoot + "/", StringComparison.Ordinal) ? layer[(storeRoot.Length + 1)..] : layer));
}
