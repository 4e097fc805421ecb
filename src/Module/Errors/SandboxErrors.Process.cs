namespace Sandbox;

/// <summary>Errors of process lifetime and of what the FakeChroot provider cannot promise.</summary>
public static partial class SandboxErrors
{
    public static SandboxException NetworkIsolationUnsupported(string provider) => new(
        "NetworkIsolationUnsupported", SandboxErrorKind.InvalidArgument,
        $"The {provider} provider cannot take the network away (-Network None): it has no namespaces, " +
        "so its commands always use the host's network.",
        "Pass -Network Host (or leave -Network out) to accept the host's network, or use -Provider Bubblewrap " +
        "for a sandbox without network.", provider);

    public static SandboxException ImageNotCopyable(string image, string detail) => new(
        "ImageNotCopyable", SandboxErrorKind.PermissionDenied,
        $"The FakeChroot provider cannot copy image '{image}' as this user: some of its files are not readable " +
        $"({Tail(detail)}). The image was built for the namespace providers, whose root may read every file.",
        $"Build it for FakeChroot as this user (New-SandboxImage -Name {image} -Suite SUITE -Mode Fakechroot -Force), " +
        "or import a root filesystem this user can read (New-SandboxImage -Path).", image);

    public static SandboxException ExecutableNotFound(string program) => new(
        "ExecutableNotFound", SandboxErrorKind.NotInstalled,
        $"'{program}' was not found on this host.",
        "Install it or check PATH.", program);

    public static SandboxException SpawnFailed(string executable, string reason) => new(
        "SpawnFailed", SandboxErrorKind.InvalidOperation,
        $"Could not start '{executable}': {reason}.",
        "Check that it is executable.", executable);

    /// <summary>
    /// The FakeChroot provider could not copy an image into its pool (not Copy-SandboxItem's
    /// <see cref="CopyFailed"/>: this one fails Enter-Sandbox, and is about the host's disk).
    /// </summary>
    public static SandboxException ImageCopyFailed(string target, string detail) => new(
        "ImageCopyFailed", SandboxErrorKind.InvalidOperation,
        $"Copying the image to {target} failed: {detail.Trim()}",
        "Check free disk space in the store (see $env:SANDBOX_HOME).", target);
}
