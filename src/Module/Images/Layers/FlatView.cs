using Sandbox.Namespaces;
using Sandbox.Processes;
using Sandbox.Storage;

namespace Sandbox.Images.Layers;

/// <summary>
/// The flattened tree of a chain of layers, where one tree is needed (an export, a FakeChroot copy):
/// the kernel's own overlay of the layers, read-only, mounted in a private mount namespace that
/// lives only as long as the command reading it (rootless inside the user's namespace with the
/// sandboxes' id mapping). So whiteouts and opaque markers mean exactly what they mean in a sandbox
/// and never appear in what the command reads. A single layer needs no mount: the command reads it.
/// </summary>
internal static class FlatView
{
    // $1 = store root (the lower layers are named relative to it), $2 = options, $3 = mount point, then the command.
    private const string MountThenExec =
        "cd \"$1\" || exit 125; mount -t overlay sandbox-flat -o \"$2\" \"$3\" || { echo \"sandbox-setup: could not mount the layers on $3\" >&2; exit 125; }; " +
        "cd /; shift 3; exec \"$@\"";

    /// <summary>
    /// Runs <paramref name="command"/> (given the flattened tree's path) over the chain
    /// <paramref name="layers"/> (topmost first). The mount point is an empty staging folder of the
    /// layer store, deleted afterwards (or swept if we die).
    /// </summary>
    public static ProcessOutcome Run(StoreLayout layout, IReadOnlyList<string> layers, Func<string, IReadOnlyList<string>> command,
        IEngineLog log, CancellationToken cancellation)
    {
        if (layers.Count == 1) return HostCommand.Run(log, AbandonedFolders.DieWithUs().Concat(command(layers[0])).ToList(), cancellation: cancellation);
        var store = new LayerStore(layout, log);
        var mountPoint = store.NewStaging();
        try
        {
            var argv = AbandonedFolders.DieWithUs().ToList();
            argv.AddRange(MountNamespace.InUserNamespace
                ? MountNamespace.UnsharePrefix()
                : new[] { ToolLocator.Require("unshare", "util-linux"), "--mount", "--propagation", "private", "--" });
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
