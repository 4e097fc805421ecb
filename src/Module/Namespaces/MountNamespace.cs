using Sandbox.Native;
using Sandbox.Processes;

namespace Sandbox.Namespaces;

/// <summary>
/// The `unshare` prefix that gives a command a private mount namespace: as root just that; as any
/// other user also a user namespace in which they are root, with their subordinate ids mapped
/// when they have some (and newuidmap is installed).
/// </summary>
internal static class MountNamespace
{
    public static bool InUserNamespace => !UserIdentity.IsRoot;

    public static List<string> UnsharePrefix()
    {
        var argv = new List<string> { ToolLocator.Require("unshare", "util-linux") };
        if (InUserNamespace)
        {
            argv.Add("--map-root-user");
            if (SubordinateIds.ForCurrentUser() is { } ids && ToolLocator.Find("newuidmap") is not null)
            {
                argv.Add($"--map-users={ids.UidStart},1,{ids.Count}");
                argv.Add($"--map-groups={ids.GidStart},1,{ids.Count}");
            }
        }
        argv.AddRange(new[] { "--mount", "--propagation", "private", "--" });
        return argv;
    }
}
