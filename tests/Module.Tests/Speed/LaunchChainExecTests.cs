using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Speed;

/// <summary>
/// How many programs the engine executes for one command (issue 12: each exec costs a few ms), as
/// strace sees them from the engine's process down to the command itself, after a first command
/// (which mounts what later ones reuse). The guarantees the removed links gave are the subject of
/// other tests (ProcessLifetimeTests, OwnerKilledTests, NspawnConfinementTests, the peak-memory ones,
/// LaunchChainTests below). Each list names every exec, so a failure shows what the chain ran.
/// </summary>
[Trait("Area", "Speed")]
public sealed class LaunchChainExecTests
{
    /// <summary>The programs one `true` in a sandbox of <paramref name="provider"/> executes, in an EngineHost as root.</summary>
    private static IReadOnlyList<string> ExecsAsRoot(ProviderName provider)
    {
        using var busybox = new BusyboxStore("exec-count");
        using var engine = new RemoteHarness(asRoot: true, sharedStore: busybox.Root);
        return ExecsOfOneCommand(engine, provider);
    }

    internal static IReadOnlyList<string> ExecsOfOneCommand(RemoteHarness engine, ProviderName provider)
    {
        var sandbox = engine.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = provider });
        try
        {
            Assert.Equal(0, engine.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "true" } }).ExitCode);
            SandboxCommandResult? result = null;
            var programs = ExecTrace.Of(engine.HostPid, () => result = engine.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "true" } }));
            Assert.Equal(0, result!.ExitCode);
            // The command itself ran, and the chain in front of it is ours.
            Assert.Equal("true", programs[^1]);
            return programs;
        }
        finally
        {
            engine.Remove(sandbox.Id);
        }
    }

    internal static string Describe(IReadOnlyList<string> programs) => $"{programs.Count} execs: {string.Join(" -> ", programs)}";

    [SkippableFact]
    public void A_root_Bubblewrap_command_is_three_execs_launcher_bwrap_command()
    {
        Skip.IfNot(ExecTrace.Available, "needs root and strace");
        var programs = ExecsAsRoot(ProviderName.Bubblewrap);

        // Was 5: setpriv -> time -> sh -> bwrap -> true.
        Assert.True(programs.SequenceEqual(new[] { ExecTrace.LaunchHelper, "bwrap", "true" }), Describe(programs));
    }

    [SkippableFact]
    public void An_Nspawn_command_is_six_execs_launcher_overlay_shell_two_mounts_nspawn_command()
    {
        Skip.IfNot(ExecTrace.Available, "needs root and strace");
        Skip.If(Sandbox.Providers.NspawnProvider.HostRunsSystemd, "with systemd as PID 1 nspawn registers with machined and the chain differs");
        var programs = ExecsAsRoot(ProviderName.Nspawn);

        // Was 13: setpriv -> time -> sh -> setpriv -> unshare --pid -> sh (cgroup) -> unshare --mount
        // -> sh (overlay) -> mount -> mkdir -> mount -> systemd-nspawn -> true.
        Assert.True(programs.SequenceEqual(new[] { ExecTrace.LaunchHelper, "sh", "mount", "mount", "systemd-nspawn", "true" }), Describe(programs));
    }
}

/// <summary>The same count for rootless Bubblewrap, in an EngineHost as the unprivileged test user.</summary>
[Trait("Area", "Speed")]
public sealed class RootlessLaunchChainExecTests(UserHarnessFixture fixture) : IClassFixture<UserHarnessFixture>
{
    [SkippableFact]
    public void A_rootless_Bubblewrap_command_has_no_setpriv_time_or_wrapper_shell()
    {
        Skip.If(fixture.SkipReason is not null, fixture.SkipReason);
        Skip.IfNot(ExecTrace.Available, "needs root and strace");
        var programs = LaunchChainExecTests.ExecsOfOneCommand((RemoteHarness)fixture.Harness, ProviderName.Bubblewrap);

        // Was setpriv -> time -> sh -> setpriv -> unshare ... -> true: the launcher replaces the first four.
        Assert.True(programs.Count(p => p is "setpriv" or "time") == 0 && programs[0] == ExecTrace.LaunchHelper
            && programs.Count(p => p == "sh") == 1 && programs.SkipWhile(p => p != "unshare").SkipWhile(p => p is "unshare" or "newuidmap" or "newgidmap")
                .SequenceEqual(new[] { "sh", "mount", "bwrap", "true" }), LaunchChainExecTests.Describe(programs));
    }
}

/// <summary>The same count for FakeChroot, in an EngineHost as the unprivileged test user.</summary>
[Trait("Area", "Speed")]
public sealed class FakeChrootLaunchChainExecTests(FakeChrootHarnessFixture fixture) : IClassFixture<FakeChrootHarnessFixture>
{
    [SkippableFact]
    public void A_FakeChroot_command_is_two_execs_launcher_command()
    {
        Skip.If(fixture.SkipReason is not null, fixture.SkipReason);
        Skip.IfNot(ExecTrace.Available, "needs root and strace");
        var programs = LaunchChainExecTests.ExecsOfOneCommand((RemoteHarness)fixture.Harness, ProviderName.FakeChroot);

        // Was 7: setpriv -> time -> sh -> setpriv -> env -> chroot -> true; then 3: the launcher -> chroot -> true.
        Assert.True(programs.SequenceEqual(new[] { ExecTrace.LaunchHelper, "true" }), LaunchChainExecTests.Describe(programs));
    }
}
