using Sandbox.Processes;

namespace Sandbox.Namespaces;

/// <summary>
/// Whether this user may create user namespaces and mount an overlay in one, checked by doing it
/// once (sysctls and AppArmor policies differ between distributions; trying is the only sure test).
/// </summary>
internal static class UserNamespaces
{
    public const string Hint =
        "Enable unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1, and on Ubuntu " +
        "kernel.apparmor_restrict_unprivileged_userns=0 (or run as root).";

    private static readonly Lazy<bool> CachedUsable = new(() => Usable(out _));

    /// <summary>Whether this user can use user namespaces, tried once per process.</summary>
    public static bool Available => CachedUsable.Value;

    public static bool Usable(out string reason)
    {
        var unshare = ToolLocator.Find("unshare");
        if (unshare is null) { reason = "unshare is not installed."; return false; }
        var outcome = NativeProcessRunner.Run(new ProcessSpec
        {
            Argv = new[] { unshare, "--user", "--map-root-user", "--mount", "true" },
            Environment = new Dictionary<string, string> { ["PATH"] = ToolLocator.SystemPath },
            Timeout = TimeSpan.FromSeconds(10),
        });
        reason = outcome.ExitCode == 0 ? "" : $"user namespaces are not available to this user: {outcome.StdErr.Trim()}";
        return outcome.ExitCode == 0;
    }
}
