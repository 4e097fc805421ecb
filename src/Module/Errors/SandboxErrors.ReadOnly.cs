namespace Sandbox;

/// <summary>Errors of a read-only root (-ReadOnlyRoot) and the in-sandbox paths left writable (-WritablePath).</summary>
public static partial class SandboxErrors
{
    public static SandboxException InvalidWritablePath(string path, string problem) => new(
        "InvalidWritablePath", SandboxErrorKind.InvalidArgument,
        $"-WritablePath '{path}' is not valid: {problem}",
        "Give absolute folders inside the sandbox, without '..' or '.', other than '/' and not below /proc, /dev, /sys or /run, none inside another nor inside a -Bind target (e.g. -WritablePath /build,/tmp).",
        path);

    public static SandboxException WritablePathWithoutReadOnlyRoot() => new(
        "WritablePathWithoutReadOnlyRoot", SandboxErrorKind.InvalidArgument,
        "-WritablePath was given without -ReadOnlyRoot: without it the whole root is writable already.",
        "Add -ReadOnlyRoot, or leave out -WritablePath.",
        null);

    public static SandboxException ReadOnlyRootUnsupported(string provider, string why) => new(
        "ReadOnlyRootUnsupported", SandboxErrorKind.InvalidArgument,
        $"The {provider} provider cannot give a read-only root: {why}",
        "Use -Provider Bubblewrap (root or rootless), or Nspawn without -Boot (root).",
        provider);

    /// <summary>
    /// A writable path leads through a link or a non-folder, in the image or in the sandbox's layer:
    /// binding it would follow the link on the host.
    /// </summary>
    public static SandboxException WritablePathSubverted(string provider, string sandbox, string path, string problem) => new(
        "WritablePathSubverted", SandboxErrorKind.SetupFailure,
        $"The {provider} sandbox '{sandbox}' cannot leave {path} writable: {problem}",
        "A writable path must be a real folder (or missing: it is then made in the sandbox's layer) at every step; name the folder the link points to instead, or remove the sandbox.",
        sandbox);
}
