using System.Security.Cryptography;
using System.Text;
using Sandbox.Namespaces;
using Sandbox.Processes;

namespace Sandbox.Images.Layers;

/// <summary>
/// The content id of a layer: sha256 over a canonical serialisation of its tree, chained with its
/// parent layer's id, so equal ids mean equal whole stacks. The serialisation is a tar stream in a
/// fixed form: names sorted, pax format, numeric owners, every mtime 0 and no atime or ctime, with
/// modes, sizes, contents, link targets, device numbers (whiteouts), ACLs and extended attributes
/// (the opaque markers). Rootless it is read inside the user's namespace with the same id mapping
/// as the sandboxes, so files of subordinate ids are readable and show the same numeric owners a
/// root-made layer of the same content has.
/// </summary>
internal static class LayerDigest
{
    private const string Script =
        "$DIE tar -C \"$1\" --create --file - --sparse --sort=name --format=pax --numeric-owner --mtime=@0 " +
        "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime " +
        "--xattrs --xattrs-include='*' --acls . | $DIE sha256sum";

    public static string Of(string tree, string? parentId, IEngineLog log, CancellationToken cancellation)
    {
        var argv = AbandonedFolders.DieWithUs().ToList();
        if (MountNamespace.InUserNamespace) argv.AddRange(MountNamespace.UnsharePrefix());
        argv.AddRange(new[] { ToolLocator.Require("bash", "bash"), "-o", "pipefail", "-c", AbandonedFolders.WithDieVariable(Script), "sandbox-layer-digest", tree });
        var outcome = HostCommand.Run(log, argv, cancellation: cancellation);
        if (outcome.Cancelled) throw new OperationCanceledException(cancellation);
        var treeHash = outcome.StdOut.Split(' ', 2)[0].Trim();
        if (outcome.ExitCode != 0 || treeHash.Length != 64)
            throw SandboxErrors.LayerDigestFailed(tree, outcome.ExitCode ?? -1, outcome.StdErr);
        return Chain(parentId, treeHash);
    }

    /// <summary>The id of a tree whose own hash is <paramref name="treeHash"/> over the parent <paramref name="parentId"/>.</summary>
    public static string Chain(string? parentId, string treeHash) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"sandbox-layer-v1\n{parentId ?? ""}\n{treeHash}\n"))).ToLowerInvariant();

    public static bool LooksLikeId(string text) => text.Length == 64 && text.All(char.IsAsciiHexDigitLower);
}
