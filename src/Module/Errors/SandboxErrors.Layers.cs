namespace Sandbox;

/// <summary>Errors of the layer store: derived images are their parent plus a layer of their own.</summary>
public static partial class SandboxErrors
{
    public static SandboxException LayerDigestFailed(string tree, int exitCode, string stderr) => new(
        "LayerDigestFailed", SandboxErrorKind.SetupFailure,
        $"Computing the content id of the layer '{tree}' failed (tar exit {exitCode}): {stderr.Trim()}",
        "Check that tar, bash and sha256sum are installed and the store's file system is healthy, then try again.", tree);

    public static SandboxException LayerMissing(string id, string usedBy) => new(
        "LayerMissing", SandboxErrorKind.ObjectNotFound,
        $"The layer {id} that {usedBy} is made of is not in the store.",
        "Rebuild the image (New-SandboxImage -Force), or remove it with Remove-SandboxImage.", id);

    public static SandboxException LayerCopyFailed(string sandbox, int exitCode, string stderr) => new(
        "LayerCopyFailed", SandboxErrorKind.SetupFailure,
        $"Copying the writes of sandbox '{sandbox}' into a new layer failed (exit {exitCode}): {stderr.Trim()}",
        "Check the store's free space (Get-SandboxStat shows the sandbox's own size) and try again.", sandbox);

    /// <summary>The kernel refused to mount an image's held layers as the one read-only tree an export or copy reads (see Images.Layers.HeldFlatTree).</summary>
    public static SandboxException FlatViewMountFailed(string layer, string detail) => new(
        "FlatViewMountFailed", SandboxErrorKind.SetupFailure,
        $"Mounting the image's layers (topmost {layer}) read-only as one tree failed: {detail}",
        "The layers are mounted with overlayfs's lowerdir+ (Linux 6.8 or later) and open_tree: check the kernel version and dmesg, " +
        "and that the store's file system supports overlayfs lower layers, then try again.", layer);

    public static SandboxException LayerNotPortable(string sandbox, string path, string attribute) => new(
        "LayerNotPortable", SandboxErrorKind.InvalidOperation,
        $"The writes of sandbox '{sandbox}' cannot become an image layer: '{path}' carries the overlayfs attribute {attribute} (a renamed folder or metadata-only copy), which other users of the layer could not follow.",
        "Make the change in a sandbox created by this version (its overlay never makes such entries), or copy the folder instead of renaming it.", sandbox);

    public static SandboxException CommitNotSupported(string sandbox, string reason) => new(
        "CommitNotSupported", SandboxErrorKind.InvalidOperation,
        $"Sandbox '{sandbox}' cannot be published as an image: {reason}",
        "Use a Bubblewrap or Nspawn sandbox of an image built or imported by this version (rebuild older images with New-SandboxImage -Force).", sandbox);

    /// <summary>Remove-SandboxImage without -Force while derived images or sandboxes stand on the image: names each.</summary>
    public static SandboxException ImageInUse(string name, IReadOnlyList<string> images, IReadOnlyList<string> sandboxes) => new(
        "ImageInUse", SandboxErrorKind.ResourceBusy,
        $"Image '{name}' is used by " + string.Join(" and ", new[]
        {
            images.Count > 0 ? $"derived image(s) {string.Join(", ", images.Select(i => $"'{i}'"))}" : null,
            sandboxes.Count > 0 ? $"sandbox(es) {string.Join(", ", sandboxes.Select(s => $"'{s}'"))}" : null,
        }.OfType<string>()) + ".",
        "Remove those first (Remove-SandboxImage, Remove-Sandbox), or add -Force to remove them with it.", name);
}
