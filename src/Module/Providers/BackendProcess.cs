using Sandbox.Processes;

namespace Sandbox.Providers;

/// <summary>
/// How every provider starts its backend (bwrap, systemd-nspawn, fakechroot) for a command: the
/// command line logged shell-quoted at verbose level, then either run to completion with the
/// kernel's accounting (peak memory measured by time(1), see PeakMemoryMeter) or handed the
/// caller's terminal.
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
        SandboxCommand command, OutputLines lines, CancellationToken cancellation)
    {
        log.Verbose(ShellQuote.Join(argv));
        using var meter = new PeakMemoryMeter();
        var outcome = NativeProcessRunner.Run(new ProcessSpec
        {
            Argv = meter.Wrap(argv),
            Environment = environment,
            StandardInput = command.StandardInput,
            Timeout = command.Timeout,
            BinaryStdOut = command.BinaryStdOut,
        }, lines.StdOut, cancellation, lines.StdErr);
        return meter.Correct(outcome);
    }

    public static int RunInteractive(IEngineLog log, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> environment)
    {
        log.Verbose(ShellQuote.Join(argv));
        return InteractiveProcessRunner.Run(argv, environment);
    }
}
