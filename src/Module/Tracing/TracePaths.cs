namespace Sandbox.Tracing;

/// <summary>
/// Turns a path a traced call named into the path inside the sandbox, as text only: nothing is
/// looked up on the host (the path is the sandbox's choice). Relative paths are joined to the
/// process's working folder when the call used it (AT_FDCWD) and it is known; "." and ".." are
/// folded lexically. FakeChroot's calls carry host paths under the sandbox's copy (fakechroot
/// rewrote them before the kernel saw them): those are mapped back by taking the copy's prefix off.
/// </summary>
internal sealed class TracePaths
{
    /// <summary>The dirfd strace prints for AT_FDCWD with -X raw.</summary>
    public const string CurrentFolder = "-100";

    private readonly string? _hostRoot;

    /// <param name="hostRoot">The host folder whose paths are the sandbox's "/" in the calls (FakeChroot's copy), else null.</param>
    public TracePaths(string? hostRoot) => _hostRoot = hostRoot is null ? null : Normalize(hostRoot);

    /// <summary>The in-sandbox form of <paramref name="path"/> named relative to <paramref name="dirFd"/>.</summary>
    /// <param name="workingFolder">The process's working folder in the calls' terms (host form for FakeChroot), or null when unknown.</param>
    public string Resolve(string? dirFd, string path, string? workingFolder)
    {
        string full;
        if (path.StartsWith('/')) full = Normalize(path);
        else if ((dirFd is null || dirFd == CurrentFolder) && workingFolder is not null) full = Normalize(workingFolder + "/" + path);
        else return path.Length == 0 ? "." : path; // relative to a folder descriptor we do not follow
        return ToSandbox(full);
    }

    /// <summary>A working folder as the calls name it (joined, folded), kept in the calls' terms.</summary>
    public string? Join(string? workingFolder, string path) =>
        path.StartsWith('/') ? Normalize(path) : workingFolder is null ? null : Normalize(workingFolder + "/" + path);

    /// <summary>An absolute, folded path in the calls' terms mapped to the sandbox's.</summary>
    public string ToSandbox(string full)
    {
        if (_hostRoot is null || _hostRoot == "/") return full;
        if (full == _hostRoot) return "/";
        return full.StartsWith(_hostRoot + "/", StringComparison.Ordinal) ? full[_hostRoot.Length..] : full;
    }

    /// <summary>"/a//b/./c/../d" as "/a/b/d"; ".." never climbs above "/".</summary>
    public static string Normalize(string absolute)
    {
        var parts = new List<string>();
        foreach (var part in absolute.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); continue; }
            parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }
}
