using Sandbox.Namespaces;
using Sandbox.Processes;

namespace Sandbox.Providers;

/// <summary>
/// The command-line prefix shared by the namespace providers: enter a private mount namespace
/// (rootless: inside a user namespace), mount the sandbox's overlay there, mount fresh tmpfs
/// folders the backend needs private, then exec the backend. Mounts made this way never exist on
/// the host, so a killed command cannot leak one and removal never meets a bind mount.
/// </summary>
public static class OverlayLauncher
{
    /// <summary>Marks our own setup failures in stderr, so they are told apart from the command's.</summary>
    public const string SetupMarker = "sandbox-setup:";

    /// <summary>The exit code of the launcher when its own mounts fail.</summary>
    public const int SetupExitCode = 125;

    // $1 = overlay options, $2 = mount point, then tmpfs mount points up to "--", then the backend.
    // Arguments travel as positional parameters, never pasted into the script.
    private const string MountThenExec =
        "fail() { echo \"" + SetupMarker + " $1\" >&2; exit 125; }; " +
        "mount -t overlay sandbox-overlay -o \"$1\" \"$2\" || fail \"could not mount the overlay on $2\"; shift 2; " +
        "while [ \"$1\" != -- ]; do mkdir -p \"$1\" && mount -t tmpfs sandbox-tmpfs \"$1\" || fail \"could not mount a tmpfs on $1\"; shift; done; " +
        "shift; exec \"$@\"";

    public static List<string> Prefix(OverlayLayer layer, params string[] privateTmpfs)
    {
        var argv = MountNamespace.UnsharePrefix();
        argv.AddRange(new[] { ToolLocator.Require("sh", "dash"), "-c", MountThenExec, "sandbox-overlay" });
        argv.Add(layer.MountOptions(MountNamespace.InUserNamespace));
        argv.Add(layer.Merged);
        argv.AddRange(privateTmpfs);
        argv.Add("--");
        return argv;
    }

    public static bool IsSetupFailure(ProcessOutcome outcome) =>
        outcome.ExitCode == SetupExitCode && outcome.StdErr.Contains(SetupMarker, StringComparison.Ordinal);
}
