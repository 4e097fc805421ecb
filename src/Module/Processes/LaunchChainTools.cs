namespace Sandbox.Processes;

/// <summary>
/// The tools of the launch chain (setpriv, time, sh, unshare), located once per process rather
/// than on every command: a lookup walks the search path with a stat per folder. A tool removed
/// meanwhile is looked up again, so a reinstall elsewhere is still found.
/// </summary>
internal static class LaunchChainTools
{
    private static readonly CachedTool SetprivTool = new("setpriv");
    private static readonly CachedTool TimeTool = new("time");
    private static readonly CachedTool ShTool = new("sh");
    private static readonly CachedTool UnshareTool = new("unshare");

    public static string? Setpriv => SetprivTool.Path;
    public static string? Time => TimeTool.Path;
    public static string? Sh => ShTool.Path;
    public static string? Unshare => UnshareTool.Path;

    private sealed class CachedTool(string name)
    {
        private string? _path;

        public string? Path
        {
            get
            {
                var path = Volatile.Read(ref _path);
                if (path is not null && File.Exists(path)) return path;
                path = ToolLocator.Find(name);
                Volatile.Write(ref _path, path);
                return path;
            }
        }
    }
}
