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
}
