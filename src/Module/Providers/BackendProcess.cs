using Sandbox.Processes;

namespace Sandbox.Providers;

/// <summary>
/// How every provider starts its backend (bwrap, systemd-nspawn, fakechroot) for a command: the
/// command line logged shell-quoted at verbose level, then either run to completion with the
/// kernel's accounting or handed the caller's terminal.
/// </summary>
internal static class BackendProcess
{
    /// <summary>The environment the backend itself runs with; the command's own is composed apart.</summary>
    public static Dictionary<string, string> HostEnvironment() => new()
    {
        ["PATH"] = ToolLocator.SystemPath,
        ["LANG"] = "C.UTF-8",
        ["TERM"] = Environment.GetEnvironmentVariable("TERM") ?? "dumb",
    };

    public static ProcessOutcome Run(IEngineLog log, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> environment,
        SandboxCommand command, Action<string>? onStdOutLine, CancellationToken cancellation)
    {
        log.Verbose(ShellQuote.Join(argv));
        return NativeProcessRunner.Run(new ProcessSpec
        {
            Argv = argv,
            Environment = environment,
            StandardInput = command.StandardInput,
            Timeout = command.Timeout,
            BinaryStdOut = command.BinaryStdOut,
        }, onStdOutLine, cancellation);
    }

    public static int RunInteractive(IEngineLog log, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> environment)
    {
        log.Verbose(ShellQuote.Join(argv));
        return InteractiveProcessRunner.Run(argv, environment);
    }
}
