using System.Collections.Concurrent;

namespace Sandbox.Processes;

/// <summary>
/// Where a tool was found on a search path, remembered for the life of the process: a lookup walks
/// the path with a stat per folder (four for bwrap, sh and unshare on Debian), and the backend
/// commands need several per command. A remembered path costs one stat to confirm it still exists;
/// one that vanished (the package was removed or moved) is searched for again, so a reinstall
/// elsewhere is found. A tool not found is not remembered, so one installed later is found at once.
/// Keyed by the search path too: a PATH changed meanwhile is searched afresh.
/// A tool installed later in a folder earlier on the path than the remembered one is not seen
/// until the remembered one goes: the same program, and the one this process has been using.
/// </summary>
internal sealed class ToolPathCache
{
    private readonly ConcurrentDictionary<(string Tool, string SearchPath), string> _found = new();

    /// <summary>The first <paramref name="tool"/> on <paramref name="searchPath"/> (folders separated by ':'), or null.</summary>
    public string? Find(string tool, string searchPath)
    {
        var key = (tool, searchPath);
        if (_found.TryGetValue(key, out var remembered) && File.Exists(remembered)) return remembered;
        var path = Search(tool, searchPath);
        if (path is null) _found.TryRemove(key, out _);
        else _found[key] = path;
        return path;
    }

    /// <summary>A search without memory: the first folder of the path that holds the tool.</summary>
    public static string? Search(string tool, string searchPath)
    {
        foreach (var folder in searchPath.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(folder, tool);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}
