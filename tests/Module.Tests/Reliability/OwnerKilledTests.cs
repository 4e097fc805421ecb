using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// kill -9 of the process that owns a sandbox, in the middle of a command: the sandbox shows as
/// Orphaned, and reaping it leaves no sandbox process, no mount and no state folder.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class OwnerKilledTests
{
    [SkippableTheory]
    [InlineData(ProviderName.Bubblewrap)]
    [InlineData(ProviderName.Nspawn)]
    public void Killing_the_owner_mid_command_leaves_an_orphan_that_reaping_removes_completely(ProviderName provider)
    {
        Skip.If(Environment.UserName != "root", "the owner process runs as root here; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("killed-owner");
        var (store, engine) = (busybox.Root, busybox.Engine);

        var owner = new RemoteHarness(asRoot: true, sharedStore: store);
        var sandbox = owner.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = provider });
        var seconds = Random.Shared.Next(1000, 9999).ToString();
        owner.StartInvoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", $"sleep {seconds} & sleep {seconds}" } });
        Assert.True(Poll.Until(() => HostProcesses.WithCommandLine("sleep", seconds).Count == 2, TimeSpan.FromSeconds(20)), "the command is running");

        owner.KillHost();
        owner.Dispose();

        Assert.Equal(SandboxStatus.Orphaned, engine.GetSandbox(sandbox.Id).Status);
        var reaped = engine.ReapOrphans();

        Assert.Contains(sandbox.Name, reaped);
        Assert.Empty(HostProcesses.StillRunningAfter(TimeSpan.FromSeconds(5), "sleep", seconds));
        var statePath = Path.Combine(store, "sandboxes", sandbox.Id);
        Assert.Empty(HostProcesses.Mentioning(statePath));
        Assert.DoesNotContain(statePath, RunAsRoot.Command("findmnt", "--list", "--noheadings", "--output", "TARGET"));
        Assert.False(Directory.Exists(statePath));
        Assert.Empty(engine.GetSandboxes());
    }

    [SkippableTheory]
    [InlineData(ProviderName.Bubblewrap)]
    [InlineData(ProviderName.Nspawn)]
    public void A_sandbox_made_with_Keep_outlives_its_killed_owner_and_reaping_leaves_it(ProviderName provider)
    {
        Skip.If(Environment.UserName != "root", "the owner process runs as root here; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("kept");
        var (store, engine) = (busybox.Root, busybox.Engine);

        var owner = new RemoteHarness(asRoot: true, sharedStore: store);
        var sandbox = owner.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = provider, Keep = true });
        Assert.Equal(0, owner.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", "echo kept > /root/mark" } }).ExitCode);
        owner.KillHost();
        owner.Dispose();

        Assert.Equal(SandboxStatus.Ready, engine.GetSandbox(sandbox.Id).Status);
        Assert.DoesNotContain(sandbox.Name, engine.ReapOrphans());
        var kept = engine.GetSandbox(sandbox.Id);
        Assert.Equal("kept\n", engine.Invoke(kept, new SandboxCommand { Argv = new[] { "cat", "/root/mark" } }).StdOut);

        engine.RemoveSandbox(kept);
        Assert.False(Directory.Exists(Path.Combine(store, "sandboxes", sandbox.Id)));
    }
}
