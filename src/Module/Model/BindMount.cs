namespace Sandbox;

/// <summary>
/// A host folder or file made visible inside a sandbox. Parsed from '/host' or '/host:/in/sandbox';
/// the host side must exist and both sides must be absolute and free of '..' and '.'. Paths every
/// backend can carry: no ',' (an option separator for mounts), no ':' beyond the one separating the
/// sides (nspawn's --bind), no control characters (a newline splits mountinfo and logs).
/// Which host paths may be bound at all is <see cref="Sandboxes.BindPolicy"/>'s call.
/// </summary>
public sealed record BindMount(string HostPath, string SandboxPath, bool ReadOnly)
{
    public static BindMount Parse(string spec, bool readOnly)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw SandboxErrors.InvalidBind(spec ?? "", "it is empty.");
        var colon = spec.IndexOf(':');
        var host = colon < 0 ? spec : spec[..colon];
        var inside = colon < 0 ? spec : spec[(colon + 1)..];

        RequireAbsolute(spec, host, "the host path");
        RequireAbsolute(spec, inside, "the sandbox path");
        if (!File.Exists(host) && !Directory.Exists(host))
            throw SandboxErrors.InvalidBind(spec, $"the host path '{host}' does not exist.");
        if (inside.Trim('/') == "")
            throw SandboxErrors.InvalidBind(spec, "the sandbox path may not be '/'.");

        return new BindMount(Path.TrimEndingDirectorySeparator(host), Path.TrimEndingDirectorySeparator(inside), readOnly);
    }

    private static void RequireAbsolute(string spec, string path, string what)
    {
        if (!path.StartsWith('/'))
            throw SandboxErrors.InvalidBind(spec, $"{what} '{path}' is not absolute.");
        if (path.Split('/').Any(segment => segment == ".."))
            throw SandboxErrors.InvalidBind(spec, $"{what} '{path}' contains '..'.");
        if (path.Split('/').Any(segment => segment == "."))
            throw SandboxErrors.InvalidBind(spec, $"{what} '{path}' contains a '.' segment.");
        if (path.IndexOfAny(new[] { ',', ':' }) >= 0)
            throw SandboxErrors.InvalidBind(spec, $"{what} '{path}' contains ',' or ':', which a backend's bind option cannot carry.");
        if (path.Any(char.IsControl))
            throw SandboxErrors.InvalidBind(spec, $"{what} contains a control character (a newline, say).");
    }

    public override string ToString() => $"{HostPath}:{SandboxPath}{(ReadOnly ? " (read-only)" : "")}";
}
