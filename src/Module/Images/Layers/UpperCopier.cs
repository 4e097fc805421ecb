using Sandbox.Namespaces;
using Sandbox.Processes;
using Sandbox.Storage;

namespace Sandbox.Images.Layers;

/// <summary>
/// Copies a sandbox's upper layer into a new layer's staging tree, then brings it to the one layer
/// format (<see cref="OverlayMarkers"/>). A copy, never a move: the sandbox keeps running on its
/// upper layer. tar to tar, so nothing is ever followed: links are copied as links, FIFOs, sockets
/// and devices (whiteouts) as entries, setuid files keep their mode (image content, inside the
/// 0700 store). Rootless the copy runs in a user namespace with the same mapping as the sandboxes,
/// where the upper layer's files of subordinate ids are readable and keep their owners; there the
/// overlay was mounted with userxattr, which never writes redirect or metacopy entries, and the
/// extract keeps of overlayfs's own attributes only user.overlay.opaque (user.* is all an
/// unprivileged copy can read or set).
/// </summary>
internal static class UpperCopier
{
    // --sparse: a step's `dd seek=100G` is a few KB in its upper layer and must stay that in the
    // layer (read as data, its holes filled the host's disk). Each tar is $DIE (setpriv
    // --pdeathsig KILL, see AbandonedFolders.DieWithUs) so the pipeline dies with this shell, which
    // dies with the engine: a killed pwsh leaves no tar writing into the staging folder.
    private const string Script =
        "src=\"$1\"; dst=\"$2\"; shift 2; mkdir -m 0755 -- \"$dst\" && " +
        "$DIE tar -C \"$src\" --create --file - --sparse --numeric-owner --xattrs --xattrs-include='*' --acls . | " +
        "$DIE tar -C \"$dst\" --extract --file - --numeric-owner --same-owner --preserve-permissions " +
        "--xattrs --xattrs-include='*' --acls \"$@\"";

    /// <summary>Every user.overlay.* name but user.overlay.opaque, as tar --xattrs-exclude patterns (fnmatch).</summary>
    internal static readonly string[] RootlessExcludes =
    {
        "user.overlay.[!o]*", "user.overlay.o[!p]*", "user.overlay.op[!a]*", "user.overlay.opa[!q]*",
        "user.overlay.opaq[!u]*", "user.overlay.opaqu[!e]*", "user.overlay.opaque?*", "user.overlay.o", "user.overlay.op",
        "user.overlay.opa", "user.overlay.opaq", "user.overlay.opaqu",
    };

    public static void Copy(string upper, string tree, string sandboxName, IEngineLog log, CancellationToken cancellation)
    {
        // tar is handed the upper layer by its descriptor's name, held beneath the store (HeldStoreFolder):
        // under sudo the state folder is the caller's, who could swap it for a link to a folder of root's
        // once the commands lock is taken, and root's tar copied that folder into a layer the caller reads.
        using var held = HeldStoreFolder.Open(upper);
        var argv = AbandonedFolders.DieWithUs().ToList();
        var rootless = MountNamespace.InUserNamespace;
        if (rootless) argv.AddRange(MountNamespace.UnsharePrefix());
        argv.AddRange(new[] { ToolLocator.Require("bash", "bash"), "-o", "pipefail", "-c", AbandonedFolders.WithDieVariable(Script), "sandbox-commit", held.Path, tree });
        if (rootless) argv.AddRange(RootlessExcludes.Select(pattern => $"--xattrs-exclude={pattern}"));
        log.Progress($"Committing sandbox {sandboxName}", "copying its layer", 10);
        var outcome = HostCommand.Run(log, argv, cancellation: cancellation);
        if (outcome.Cancelled) throw new OperationCanceledException(cancellation);
        if (outcome.ExitCode != 0) throw SandboxErrors.LayerCopyFailed(sandboxName, outcome.ExitCode ?? -1, outcome.StdErr);
        // Root reads and writes every namespace: root's markers are made one format here.
        if (!rootless) OverlayMarkers.Normalise(tree, sandboxName);
        log.Progress($"Committing sandbox {sandboxName}", "copied", 60);
    }
}
