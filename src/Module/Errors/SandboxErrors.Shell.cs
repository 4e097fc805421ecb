namespace Sandbox;

/// <summary>The interactive shell's errors: its pseudo-terminal and the relay to the caller's terminal.</summary>
public static partial class SandboxErrors
{
    public static SandboxException PseudoTerminalFailed(string call, string reason) => new(
        "PseudoTerminalFailed", SandboxErrorKind.SetupFailure,
        $"Could not give the shell a pseudo-terminal of its own: {call} failed: {reason}.",
        "Check that /dev/pts is mounted (devpts) and /dev/ptmx is accessible to this user.");

    public static SandboxException ShellNotStarted(string executable, string reason) => new(
        "ShellNotStarted", SandboxErrorKind.InvalidOperation,
        $"Could not start the shell's backend '{executable}': {reason}.",
        "Check that it is installed and executable (Get-SandboxProvider).", executable);
}
