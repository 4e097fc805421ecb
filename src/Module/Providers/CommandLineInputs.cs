using Sandbox.Native;
using Sandbox.Processes;
using Sandbox.Providers.CommandLines;

namespace Sandbox.Providers;

/// <summary>
/// The one place where the namespace providers read host state for a command line: tool paths on
/// PATH, the caller's /etc/subuid range, TERM, whether stdin is a terminal. What they produce is
/// plain data for the pure builders in <see cref="CommandLines"/>.
/// </summary>
internal static class CommandLineInputs
{
    /// <summary>The sandbox as the namespace providers' command lines see it, read from the host now.</summary>
    public static SandboxView View(SandboxInfo sandbox, OverlayLayer layer, bool isRoot, string backend) => new()
    {
        IsRoot = isRoot,
        Tools = new BackendTools(ToolLocator.Require("unshare", "util-linux"), ToolLocator.Require("sh", "dash"), backend),
        Name = sandbox.Name,
        Overlay = layer,
        SubordinateIds = !isRoot && ToolLocator.Find("newuidmap") is not null ? Namespaces.SubordinateIds.ForCurrentUser() : null,
        Binds = sandbox.Mounts,
        Network = sandbox.Network,
        ReadOnlyRoot = sandbox.ReadOnlyRoot,
        WritablePaths = sandbox.WritablePaths,
    };

    /// <summary>The command with its environment composed and its working folder chosen (a shell starts at home).</summary>
    public static CommandInvocation Invocation(SandboxInfo sandbox, SandboxCommand command, PasswdFile.Account account, bool interactive) => new()
    {
        User = account,
        Environment = CommandEnvironment.Compose(sandbox, command, account.Home).ToList(),
        WorkingDirectory = command.WorkingDirectory ?? (interactive ? account.Home : "/"),
        Argv = command.Argv,
        Interactive = interactive,
        StdInIsTerminal = interactive && InteractiveProcessRunner.StdInIsTerminal,
    };
}
