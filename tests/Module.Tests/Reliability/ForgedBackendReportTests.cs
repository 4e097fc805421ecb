using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// A command that ran and then wrote what looks like its backend's own failure report: our setup
/// marker after printing output, or a backend's exec-failure line far longer than any backend
/// writes. It ran, so its result comes back (exit code and output), never SandboxSetupFailed or
/// CommandNotFound in its place. Run against the real backends (the classifier's tables are unit
/// tested in CommandLines/BackendFailureClassifierTests).
/// </summary>
public abstract class ForgedBackendReportTests<TFixture> : IClassFixture<TFixture> where TFixture : HarnessFixture
{
    private readonly TFixture _fixture;

    protected ForgedBackendReportTests(TFixture fixture) => _fixture = fixture;

    protected abstract ProviderName Provider { get; }

    /// <summary>The backend's own line for a command it could not execute, with a place for the command.</summary>
    protected abstract string ExecFailureLine(string command);

    /// <summary>Lines the backend writes when it cannot set up, or that a command prints every day and were once taken for them.</summary>
    protected abstract string[] LookalikeSetupLines { get; }

    private ISandboxHarness Harness
    {
        get
        {
            Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
            return _fixture.Harness;
        }
    }

    private SandboxCommandResult Sh(SandboxInfo sandbox, string script) =>
        Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "/bin/sh", "-c", script, "sh" }, Timeout = TimeSpan.FromSeconds(120) });

    [SkippableFact]
    public void Output_then_our_setup_marker_and_exit_125_is_the_commands_result()
    {
        var sandbox = Harness.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = Provider });

        var result = Sh(sandbox, "echo out; echo 'sandbox-setup: could not mount the overlay on /x' >&2; exit 125");

        Assert.Equal(125, result.ExitCode);
        Assert.Equal("out\n", result.StdOut);
        Harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void A_command_that_prints_only_a_backend_lookalike_line_and_exits_1_keeps_its_result()
    {
        var sandbox = Harness.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = Provider });

        // Nothing on stdout and one line on stderr, exactly as the backend's own report would look.
        foreach (var line in LookalikeSetupLines.Append(ExecFailureLine("x")))
        {
            var result = Sh(sandbox, $"printf '%s\\n' '{line.Replace("'", "'\\''")}' >&2; exit 1");
            Assert.True(result.ExitCode == 1, $"{line}: exit {result.ExitCode}");
            Assert.Equal(line + "\n", result.StdErr);
            Assert.Equal("", result.StdOut);
        }
        Harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void A_real_missing_command_or_vanished_bind_source_is_still_classified()
    {
        using var host = new TemporaryFolder("vanishing");
        var source = Path.Combine(host.Path, "source");
        Directory.CreateDirectory(source);
        var sandbox = Harness.Create(new SandboxCreateOptions
        {
            Image = HarnessFixture.ImageName, Provider = Provider,
            Mounts = new[] { BindMount.Parse($"{source}:/mnt/gone", readOnly: false) },
        });

        var missing = Assert.Throws<SandboxException>(() =>
            Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "/nonexistent" } }));
        Assert.Equal("CommandNotFound", missing.ErrorId);
        Directory.Delete(source); // the sandbox's bind source is gone: the backend cannot set up
        var broken = Assert.Throws<SandboxException>(() => Sh(sandbox, "true"));
        Assert.Equal("SandboxSetupFailed", broken.ErrorId);
        Harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void An_exec_failure_line_longer_than_any_backend_writes_is_the_commands_result()
    {
        var sandbox = Harness.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = Provider });

        // 32 KiB of 'a' as the "command", built inside (busybox sh), written as the only stderr line.
        var result = Sh(sandbox, "s=a; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do s=$s$s; done; "
            + $"echo \"{ExecFailureLine("$s")}\" >&2; exit 1");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal(ExecFailureLine(new string('a', 32768)) + "\n", result.StdErr);
        Harness.Remove(sandbox.Id);
    }
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "Root")]
public sealed class BubblewrapForgedBackendReportAsRoot(RootHarnessFixture fixture) : ForgedBackendReportTests<RootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
    protected override string ExecFailureLine(string command) => BubblewrapLines.ExecFailure(command);
    protected override string[] LookalikeSetupLines => BubblewrapLines.LookalikeSetup;
}

/// <summary>Rootless, bwrap's status pipe passes through unshare and the overlay launcher's sh first.</summary>
[Trait("Area", "Reliability")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "NonRoot")]
public sealed class BubblewrapForgedBackendReportAsUnprivilegedUser(UserHarnessFixture fixture) : ForgedBackendReportTests<UserHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
    protected override string ExecFailureLine(string command) => BubblewrapLines.ExecFailure(command);
    protected override string[] LookalikeSetupLines => BubblewrapLines.LookalikeSetup;
}

internal static class BubblewrapLines
{
    public static string ExecFailure(string command) => $"bwrap: execvp {command}: No such file or directory";
    public static readonly string[] LookalikeSetup =
    {
        "bwrap: Can't mount proc on /newroot/proc: Operation not permitted",
        "bwrap: Can't find source path /x: No such file or directory",
        "unshare: unshare failed: Operation not permitted",
    };
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Nspawn")]
[Trait("User", "Root")]
public sealed class NspawnForgedBackendReportAsRoot(RootHarnessFixture fixture) : ForgedBackendReportTests<RootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Nspawn;
    protected override string ExecFailureLine(string command) => $"execv({command}) failed: No such file or directory";
    protected override string[] LookalikeSetupLines => new[]
    {
        "grep: Refusing to read a directory",
        "Failed to connect to bus: No such file or directory",
    };
}
