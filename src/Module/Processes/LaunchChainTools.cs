namespace Sandbox.Processes;

/// <summary>
/// The tools of the launch chain (setpriv, time, sh, unshare), by name. Found once per process and
/// confirmed with one stat per use (see <see cref="ToolPathCache"/>): a tool removed meanwhile is
/// looked up again, so a reinstall elsewhere is still found.
/// </summary>
internal static class LaunchChainTools
{
    public static string? Setpriv => ToolLocator.Find("setpriv");
    public static string? Time => ToolLocator.Find("time");
    public static string? Sh => ToolLocator.Find("sh");
    public static string? Unshare => ToolLocator.Find("unshare");
}
