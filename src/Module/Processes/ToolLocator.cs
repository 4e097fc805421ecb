namespace Sandbox.Processes;

/// <summary>
/// Finds backend tools on the host. The search path is fixed to the system folders plus the caller's
/// PATH, so a tool is found both from pwsh (whose PATH may lack /usr/sbin) and from tests.
/// </summary>
internal static class ToolLocator
{
    public const string SystemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public static string? Find(string tool)
    {
        if (tool.Contains('/')) return File.Exists(tool) ? tool : null;
        var callerPath = System.Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var folder in (SystemPath + ":" + callerPath).Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(folder, tool);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>The tool's full path, or a ToolNotInstalled error naming the Debian package.</summary>
    public static string Require(string tool, string package) =>
        Find(tool) ?? throw SandboxErrors.ToolNotInstalled(tool, package);
}
