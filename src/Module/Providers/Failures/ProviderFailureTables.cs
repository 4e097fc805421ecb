using Sandbox.Providers.Confinement;
using static Sandbox.Providers.Failures.StartFailure;
using static Sandbox.Providers.Failures.StderrLines;

namespace Sandbox.Providers.Failures;

/// <summary>
/// How each backend reports a command that never ran, as data for <see cref="BackendFailureClassifier"/>.
/// Each rule was read off the real tool's output (the conformance suite's CommandNotFound and
/// setup tests run them); a new provider adds a table here.
/// </summary>
internal static class ProviderFailureTables
{
    /// <summary>Our own launchers (overlay mount, cgroup join, confinement helper) fail with 125 and a marker.</summary>
    private static readonly BackendFailureRule OurSetup =
        BackendFailureRule.When(SetupFailed, OverlayLauncher.SetupExitCode, AnyLine, "^" + OverlayLauncher.SetupMarker);

    /// <summary>
    /// bwrap reports its own failures, and a failed exec ("bwrap: execvp CMD: REASON"), as its only
    /// line of stderr with exit code 1; so does unshare in front of it (rootless). The provider
    /// applies this table only when bwrap's status pipe shows no exit of the command
    /// (BwrapStatusPipe): a command that ran keeps its result whatever line it printed.
    /// </summary>
    public static readonly BackendFailureTable Bubblewrap = new(nameof(ProviderName.Bubblewrap), new[]
    {
        OurSetup,
        BackendFailureRule.When(CommandNotFound, 1, OnlyLine, "^bwrap: execvp (?<command>.*): (?<reason>.*)$"),
        BackendFailureRule.When(SetupFailed, 1, OnlyLine, "^(bwrap|unshare): "),
    });

    /// <summary>
    /// nspawn reports a failed exec as "execv(CMD) failed: REASON" (with at most one line before it),
    /// and its own failures as its last stderr line, both with exit code 1. In a booted machine
    /// commands are executed by the confinement helper, which exits 127 with a fixed line when it cannot.
    /// </summary>
    public static readonly BackendFailureTable Nspawn = new(nameof(ProviderName.Nspawn), new[]
    {
        OurSetup,
        BackendFailureRule.When(CommandNotFound, ConfineHelper.ExecFailureExitCode, OnlyLine,
            "^" + System.Text.RegularExpressions.Regex.Escape(ConfineHelper.ExecFailure) + "$") with
        {
            Reason = "not found or not executable in the booted machine",
        },
        BackendFailureRule.When(CommandNotFound, 1, AnyLine, @"^execv\w*\((?<command>.*)\) failed: (?<reason>.*)$") with { MaxLines = 2 },
        // The whole last line must be nspawn's own: no "program: " prefix (a command's usual error
        // form, e.g. "grep: ...Refusing..."), "Refusing" only as nspawn's closing word, and not
        // the bus error every sd-bus client prints (systemctl in the sandbox); nspawn run with
        // --register=no never connects to a bus, so that line is always the command's.
        BackendFailureRule.When(SetupFailed, 1, LastLine,
            @"^(?![^\s:]+: )(Child died too early\.|Failed to (?!connect to bus\b).*|.*\. Refusing\.)$"),
    });

    /// <summary>chroot (under fakechroot) reports a command it cannot run as its only stderr line, with exit code 126 or 127.</summary>
    public static readonly BackendFailureTable FakeChroot = new(nameof(ProviderName.FakeChroot), new[]
    {
        BackendFailureRule.When(CommandNotFound, new[] { 126, 127 }, OnlyLine, "^(/\\S*/)?chroot: failed to run command(.*: (?<reason>.*))?$"),
    });

    /// <summary>
    /// A FakeChroot command started with no chroot in front (FakeChrootDirectStart): only the launch
    /// helper stands before it, which exits 127 with a fixed line when the exec fails (the checks
    /// before it leave little: a race, or a resource the kernel lacked).
    /// </summary>
    public static readonly BackendFailureTable FakeChrootDirectStart = new(nameof(ProviderName.FakeChroot), new[]
    {
        BackendFailureRule.When(CommandNotFound, new[] { 127 }, OnlyLine, "^" + System.Text.RegularExpressions.Regex.Escape(Processes.LaunchHelper.ExecFailure) + "$") with
        {
            Reason = "the copy's program could not be executed",
        },
    });
}
