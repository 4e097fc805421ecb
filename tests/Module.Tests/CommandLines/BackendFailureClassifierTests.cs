using Sandbox.Processes;
using Sandbox.Providers.Confinement;
using Sandbox.Providers.Failures;
using Xunit;

namespace Sandbox.Tests.CommandLines;

/// <summary>
/// The failure tables applied to backend reports as the real tools write them (lines copied from
/// bwrap 0.8, systemd-nspawn 252, fakechroot's chroot), and to commands that only look like them.
/// </summary>
[Trait("Area", "CommandLines")]
[Trait("Needs", "Nothing")]
public sealed class BackendFailureClassifierTests
{
    private static ProcessOutcome Ended(int exitCode, string stderr, string stdout = "") =>
        new() { ExitCode = exitCode, StdErr = stderr, StdOut = stdout };

    // The command we asked the backend to run; an exec failure naming another is not the backend's.
    private static StartFailureReport? Bubblewrap(ProcessOutcome outcome, string command = "nope") => BackendFailureClassifier.Classify(ProviderFailureTables.Bubblewrap, outcome, command);
    private static StartFailureReport? Nspawn(ProcessOutcome outcome, string command = "nope") => BackendFailureClassifier.Classify(ProviderFailureTables.Nspawn, outcome, command);
    private static StartFailureReport? FakeChroot(ProcessOutcome outcome) => BackendFailureClassifier.Classify(ProviderFailureTables.FakeChroot, outcome);

    [Fact]
    public void Bwrap_exec_failure_is_command_not_found_with_the_reason()
    {
        Assert.Equal(new StartFailureReport(StartFailure.CommandNotFound, "No such file or directory"),
            Bubblewrap(Ended(1, "bwrap: execvp nope: No such file or directory\n")));
    }

    [Theory]
    [InlineData("bwrap: Can't mount proc on /newroot/proc: Operation not permitted\n")]
    [InlineData("unshare: unshare failed: Operation not permitted\n")]
    public void Bwrap_or_unshare_own_line_is_a_setup_failure_with_all_of_stderr(string stderr)
    {
        Assert.Equal(new StartFailureReport(StartFailure.SetupFailed, stderr), Bubblewrap(Ended(1, stderr)));
    }

    [Theory]
    [InlineData(1, "bwrap: execvp nope: No such file or directory\n", "some output")] // the command printed: it ran
    [InlineData(1, "starting\nbwrap: execvp nope: No such file or directory\n", "")] // not bwrap's only line
    [InlineData(2, "bwrap: execvp nope: No such file or directory\n", "")] // bwrap exits 1, never 2
    [InlineData(1, "", "")] // a plain `false`
    public void A_command_that_ran_keeps_its_result_whatever_it_printed(int exitCode, string stderr, string stdout)
    {
        Assert.Null(Bubblewrap(Ended(exitCode, stderr, stdout)));
    }

    [Fact]
    public void Our_launchers_marker_is_a_setup_failure_for_both_namespace_providers()
    {
        var report = Ended(125, "sandbox-setup: could not mount the overlay on /x/merged\n");

        Assert.Equal(StartFailure.SetupFailed, Bubblewrap(report)?.Failure);
        Assert.Equal(StartFailure.SetupFailed, Nspawn(report)?.Failure);
    }

    [Fact]
    public void A_command_that_printed_and_then_wrote_the_marker_and_exited_125_is_not_taken_for_a_setup_failure()
    {
        Assert.Null(Bubblewrap(Ended(125, "sandbox-setup: forged\n", stdout: "real output\n")));
        Assert.Null(Nspawn(Ended(125, "sandbox-setup: forged\n", stdout: "real output\n")));
    }

    [Fact]
    public void A_timed_out_or_cancelled_or_signalled_backend_is_never_classified()
    {
        var setup = "bwrap: Can't mount proc on /newroot/proc: Operation not permitted\n";
        Assert.Null(Bubblewrap(Ended(1, setup) with { TimedOut = true }));
        Assert.Null(Bubblewrap(Ended(1, setup) with { Cancelled = true }));
        Assert.Null(Bubblewrap(new ProcessOutcome { Signal = 9, StdErr = setup }));
    }

    [Theory]
    [InlineData("execv(nope) failed: No such file or directory\n")]
    [InlineData("Failed to resolve user: x\nexecvp(nope) failed: No such file or directory\n")]
    public void Nspawn_exec_failure_in_at_most_two_lines_is_command_not_found(string stderr)
    {
        Assert.Equal(new StartFailureReport(StartFailure.CommandNotFound, "No such file or directory"), Nspawn(Ended(1, stderr)));
    }

    [Theory]
    [InlineData("Child died too early.\n")]
    [InlineData("Spawning container box on /x/merged.\nFailed to mount /proc: Permission denied\n")]
    [InlineData("Directory /x/merged doesn't look like an OS root directory (os-release file is missing). Refusing.\n")]
    public void Nspawns_own_last_line_is_a_setup_failure(string stderr)
    {
        Assert.Equal(new StartFailureReport(StartFailure.SetupFailed, stderr), Nspawn(Ended(1, stderr)));
    }

    [Fact]
    public void An_nspawn_command_whose_last_line_only_mentions_failure_is_its_own_result()
    {
        Assert.Null(Nspawn(Ended(1, "grep: Failed to open x\nnot this\n")));
        Assert.Null(Nspawn(Ended(1, "a\nb\nexecv(x) failed: No such file or directory\n")));
    }

    [Fact]
    public void An_exec_failure_line_naming_another_program_than_the_one_asked_for_is_the_commands_own()
    {
        Assert.Null(Nspawn(Ended(1, "execv(x) failed: No such file or directory\n"), command: "/bin/sh"));
        // bwrap's status pipe already showed the command never ran: whatever bwrap said is setup.
        Assert.Equal(StartFailure.SetupFailed, Bubblewrap(Ended(1, "bwrap: execvp x: No such file or directory\n"), command: "/bin/sh")?.Failure);
    }

    [Theory]
    [InlineData("grep: Refusing to read a directory\n")] // "Refusing" anywhere was taken for nspawn's
    [InlineData("Failed to connect to bus: No such file or directory\n")] // systemctl's everyday error
    [InlineData("System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n")]
    [InlineData("mytool: Failed to open /x: Permission denied\n")] // a program's prefixed message
    [InlineData("Refusing.\n")]
    public void An_nspawn_commands_own_lines_that_resemble_nspawns_are_its_result(string stderr)
    {
        Assert.Null(Nspawn(Ended(1, stderr)));
    }

    [Theory]
    [InlineData("{ \"child-pid\": 3383, \"mnt-namespace\": 4026532176 }\n{ \"exit-code\": 1 }\n", true)]
    [InlineData("{ \"child-pid\": 3439, \"mnt-namespace\": 4026532176 }\n", false)] // setup or exec failed
    [InlineData("", false)] // our launcher failed before bwrap
    public void Bwraps_status_shows_the_command_ran_only_when_it_reports_its_exit(string status, bool ran)
    {
        Assert.Equal(ran, BwrapStatusPipe.ReportsExit(status));
    }

    [Fact]
    public void Chroots_line_is_only_recognised_at_the_start_of_the_line()
    {
        Assert.Null(FakeChroot(Ended(127, "note: chroot: failed to run command 'nope': No such file or directory\n")));
    }

    [Fact]
    public void The_confinement_helpers_exec_failure_in_a_booted_machine_is_command_not_found()
    {
        Assert.Equal(new StartFailureReport(StartFailure.CommandNotFound, "not found or not executable in the booted machine"),
            Nspawn(Ended(ConfineHelper.ExecFailureExitCode, ConfineHelper.ExecFailure + "\n")));
        Assert.Null(Nspawn(Ended(ConfineHelper.ExecFailureExitCode, "sh: 1: nope: not found\n")));
    }

    [Theory]
    [InlineData(127, "No such file or directory")]
    [InlineData(126, "Permission denied")]
    public void Chroot_under_fakechroot_failing_to_run_the_command_is_command_not_found(int exitCode, string reason)
    {
        Assert.Equal(new StartFailureReport(StartFailure.CommandNotFound, reason),
            FakeChroot(Ended(exitCode, $"/usr/sbin/chroot: failed to run command 'nope': {reason}\n")));
        Assert.Null(FakeChroot(Ended(1, $"/usr/sbin/chroot: failed to run command 'nope': {reason}\n")));
    }

    /// <summary>A FakeChroot command started directly (no chroot in front) that the launcher could not execute.</summary>
    [Fact]
    public void The_launchers_exec_failure_of_a_directly_started_FakeChroot_command_is_command_not_found()
    {
        StartFailureReport? Direct(ProcessOutcome outcome) => BackendFailureClassifier.Classify(ProviderFailureTables.FakeChrootDirectStart, outcome);
        Assert.Equal(new StartFailureReport(StartFailure.CommandNotFound, "the copy's program could not be executed"),
            Direct(Ended(127, Sandbox.Processes.LaunchHelper.ExecFailure + "\n")));
        Assert.Null(Direct(Ended(1, Sandbox.Processes.LaunchHelper.ExecFailure + "\n")));
        Assert.Null(Direct(Ended(127, "before\n" + Sandbox.Processes.LaunchHelper.ExecFailure + "\n")));
        // The chroot route's table does not take the helper's line for the command's.
        Assert.Null(FakeChroot(Ended(127, Sandbox.Processes.LaunchHelper.ExecFailure + "\n")));
    }

    [Fact]
    public void Each_provider_that_runs_commands_has_a_table_under_its_own_name()
    {
        Assert.Equal(new[] { "Bubblewrap", "Nspawn", "FakeChroot", "FakeChroot" },
            new[] { ProviderFailureTables.Bubblewrap, ProviderFailureTables.Nspawn, ProviderFailureTables.FakeChroot, ProviderFailureTables.FakeChrootDirectStart }.Select(t => t.Provider));
    }

    [Fact]
    public void A_line_longer_than_any_backend_report_is_the_commands_own()
    {
        // Written by a hostile command: the pattern matches, but no backend writes a line this long,
        // and patterns are never run over lines of arbitrary size.
        var forged = "/usr/sbin/chroot: failed to run command 'x" + new string('x', BackendFailureClassifier.MaxReportLineLength) + "': Permission denied\n";

        Assert.Null(FakeChroot(Ended(127, forged)));
        Assert.Null(Bubblewrap(Ended(1, "bwrap: execvp " + forged)));
    }
}
