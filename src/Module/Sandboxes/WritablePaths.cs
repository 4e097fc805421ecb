namespace Sandbox.Sandboxes;

/// <summary>
/// The in-sandbox folders left writable under -ReadOnlyRoot, checked and normalised at Enter-Sandbox
/// (pure: reads nothing). Each becomes a mount of its own over a read-only root, bound from the
/// sandbox's layer by a host-side path, so what may be named is narrow: absolute, no '.' or '..',
/// not '/' itself (that is a writable root: leave out -ReadOnlyRoot), not below the kernel's and the
/// backends' own file systems (/proc, /dev, /sys, /run), none inside another (the sandbox could swap
/// the inner one for a link in the outer, writable one, and the next command's bind would follow it
/// on the host), and none inside a -Bind target (the bind decides whether its folder is writable).
/// </summary>
internal static class WritablePaths
{
    private static readonly string[] KernelFileSystems = { "proc", "dev", "sys", "run" };

    public static List<string> Normalise(IEnumerable<string> paths, IReadOnlyList<BindMount> binds)
    {
        var result = new List<string>();
        foreach (var path in paths.Select(Normalise).Distinct(StringComparer.Ordinal))
        {
            if (result.FirstOrDefault(other => IsSameOrUnder(path, other) || IsSameOrUnder(other, path)) is { } clash)
                throw SandboxErrors.InvalidWritablePath(path, $"it is inside or around {clash}, also listed: list only the outer folder.");
            if (binds.FirstOrDefault(bind => IsSameOrUnder(path, bind.SandboxPath)) is { } bind)
                throw SandboxErrors.InvalidWritablePath(path, $"it is inside the bind target {bind.SandboxPath}, which is {(bind.ReadOnly ? "read-only" : "writable")} as bound.");
            result.Add(path);
        }
        return result;
    }

    /// <summary>'/build//out/' becomes '/build/out'; anything ambiguous or out of reach is refused.</summary>
    public static string Normalise(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw SandboxErrors.InvalidWritablePath(path ?? "", "it is empty.");
        if (!path.StartsWith('/')) throw SandboxErrors.InvalidWritablePath(path, "it is not absolute.");
        if (path.Any(char.IsControl)) throw SandboxErrors.InvalidWritablePath(path, "it contains a control character (a newline, say).");
        // ',' separates mount options and ':' nspawn's bind sides.
        if (path.IndexOfAny(new[] { ',', ':' }) >= 0) throw SandboxErrors.InvalidWritablePath(path, "it contains ',' or ':', which a backend's bind option cannot carry.");
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Any(segment => segment is "." or ".."))
            throw SandboxErrors.InvalidWritablePath(path, "it contains a '.' or '..' segment.");
        if (segments.Length == 0)
            throw SandboxErrors.InvalidWritablePath(path, "it is the root itself; for a writable root leave out -ReadOnlyRoot.");
        if (KernelFileSystems.Contains(segments[0]))
            throw SandboxErrors.InvalidWritablePath(path, $"/{segments[0]} is not part of the sandbox's layer (/dev and /proc keep their own nodes, /run is a fresh tmpfs at every command).");
        return "/" + string.Join('/', segments);
    }

    public static bool IsSameOrUnder(string path, string folder) =>
        path == folder || path.StartsWith(folder.TrimEnd('/') + "/", StringComparison.Ordinal);
}
