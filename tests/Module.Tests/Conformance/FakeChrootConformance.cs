using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Conformance;

/// <summary>The conformance suite for FakeChroot as the unprivileged user, plus its own pitfalls.</summary>
[Trait("Provider", "FakeChroot")]
[Trait("User", "NonRoot")]
public sealed class FakeChrootAsUnprivilegedUser(FakeChrootHarnessFixture fixture) : ProviderConformance<FakeChrootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.FakeChroot;
    protected override bool IsolatesSystem => false;
    protected override bool SupportsReadOnlyBinds => false;

    [SkippableFact]
    public void Looks_like_root_and_ownership_set_by_one_command_is_seen_by_the_next()
    {
        var sandbox = NewSandbox();
        Assert.Equal("0\n", Sh(sandbox, "id -u").StdOut);
        Assert.Equal(0, Sh(sandbox, "chown 1234 /data/file.txt && chmod 640 /data/file.txt").ExitCode);
        Assert.Equal("1234 640\n", Sh(sandbox, "stat -c '%u %a' /data/file.txt").StdOut);
        Harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void Absolute_links_ldconfig_and_dpkg_stay_inside_the_copy()
    {
        var sandbox = NewSandbox();
        // /var/run -> /run is absolute in Debian: resolved by the kernel it would be the host's /run.
        var marker = $"sandbox-test-{Guid.NewGuid():N}";
        Assert.Equal(0, Sh(sandbox, $"echo inside > /var/run/{marker}").ExitCode);
        Assert.False(File.Exists($"/run/{marker}"), "the write stayed in the sandbox");
        Assert.Equal("inside\n", Sh(sandbox, $"cat /run/{marker}").StdOut);
        Assert.Equal(0, Sh(sandbox, "ldconfig").ExitCode);
        Assert.Contains("Status: install ok installed", Sh(sandbox, "dpkg -s dash").StdOut);
        Assert.Equal("/usr/bin/dash\n", Sh(sandbox, "readlink -f /bin/sh").StdOut);
        Harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    [Trait("Area", "Reliability")]
    public void Killing_the_owner_mid_command_leaves_an_orphan_that_reaping_removes_with_its_faked()
    {
        var reaper = (RemoteHarness)Harness;
        var owner = new RemoteHarness(asRoot: false, sharedStore: reaper.StoreRoot);
        var sandbox = owner.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.FakeChroot });
        var seconds = Random.Shared.Next(1000, 9999).ToString();
        owner.StartInvoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", $"sleep {seconds} & sleep {seconds}" } });
        Assert.True(Poll.Until(() => HostProcesses.WithCommandLine("sleep", seconds).Count == 2, TimeSpan.FromSeconds(20)), "the command is running");

        owner.KillHost();
        owner.Dispose();
        Assert.Equal(SandboxStatus.Orphaned, reaper.List().Single(s => s.Id == sandbox.Id).Status);

        Assert.Contains(sandbox.Name, reaper.ReapOrphans());
        Assert.Empty(HostProcesses.StillRunningAfter(TimeSpan.FromSeconds(5), "sleep", seconds));
        Assert.Empty(HostProcesses.Mentioning(Harness.StateFolder(sandbox.Id)));
        Assert.False(Directory.Exists(Harness.StateFolder(sandbox.Id)));
    }

    [SkippableFact]
    public void Removal_stops_the_sandboxs_faked()
    {
        var sandbox = NewSandbox();
        Sh(sandbox, "chown 42 /data/file.txt");
        var announcement = File.ReadAllText(Path.Combine(Harness.StateFolder(sandbox.Id), "faked.out")).Trim();
        var pid = int.Parse(announcement.Split(':')[1]);
        Assert.True(Directory.Exists($"/proc/{pid}"), "one faked runs for the sandbox");

        Harness.Remove(sandbox.Id);

        Assert.Empty(HostProcesses.StillRunningAfter(TimeSpan.FromSeconds(5), "/usr/bin/faked-sysv", "--foreground", "--load", "--save-file",
            Path.Combine(Harness.StateFolder(sandbox.Id), "fakeroot.db")));
        Assert.False(Directory.Exists($"/proc/{pid}") && File.ReadAllText($"/proc/{pid}/cmdline").Contains("faked"));
    }
}

/// <summary>As root the FakeChroot provider refuses: nothing but LD_PRELOAD would stand between root and the host.</summary>
[Trait("Provider", "FakeChroot")]
[Trait("User", "Root")]
[Trait("Area", "Reliability")]
public sealed class FakeChrootAsRoot(RootHarnessFixture fixture) : IClassFixture<RootHarnessFixture>
{
    [SkippableFact]
    public void Refuses_to_run_as_root_with_a_message_naming_the_alternatives()
    {
        Skip.If(fixture.SkipReason is not null, fixture.SkipReason);
        var error = Assert.Throws<SandboxException>(() => fixture.Harness.Create(
            new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.FakeChroot }));
        Assert.Equal("ProviderUnavailable", error.ErrorId);
        Assert.Contains("Bubblewrap", error.Message);
        Assert.Empty(fixture.Harness.List());
    }
}
