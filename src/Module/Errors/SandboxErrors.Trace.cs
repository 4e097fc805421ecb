namespace Sandbox;

public static partial class SandboxErrors
{
    public static SandboxException TraceToolMissing() => new(
        "TraceToolMissing", SandboxErrorKind.NotInstalled,
        "-Trace needs strace on the host (the tracer runs outside the sandbox).",
        "apt-get install strace");

    public static SandboxException TraceFailed(string why) => new(
        "TraceFailed", SandboxErrorKind.SetupFailure, $"The command's trace could not be taken: {why}",
        "Run it again without -Trace to get its result; report the message if it repeats.");

    public static SandboxException TraceNotSupported(string how) => new(
        "TraceNotSupported", SandboxErrorKind.InvalidOperation, $"-Trace is not available {how}.",
        "Run the command in a plain sandbox (not -Boot, not -Shell) to trace it.");
}
