namespace Sandbox.Processes;

/// <summary>
/// Finds backend tools on the host. The search path is fixed to the system folders plus the caller's
/// PATH, so a tool is found both from pwsh (whose PATH may lack /usr/sbin) and from tests. What was
/// found is remembered for the process (<see cref="ToolPathCache"/>): every command needs bwrap,
/// unshare, sh and the like, and a search is a stat per folder of the path.
/// </summary>
internal static class ToolLocator
{
    public const string SystemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private static readonly ToolPathCache Found = new();

    public static string? Find(string tool)
    {
        if (tool.Contains('/')) return File.Exists(tool) ? tool : null;
        return Found.Find(tool, SystemPath + ":" + (System.Environment.GetEnvironmentVariable("PATH") ?? ""));
    }

    /// <summary>The tool's full path, or a ToolNotInstalled error naming the Debian package.</summary>
    public static string Require(string tool, string package) =>
        Find(tool) ?? throw SandboxErrors.ToolNotInstalled(tool, package);
}
