using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Nspawn sandboxes against each other: each command has a cgroup of its own below its sandbox's,
/// so nothing inside reaches another sandbox's processes through cgroupfs, cgroups made inside do
/// not outlive the sandbox, and several commands of one sandbox run at once.
/// </summary>
[Trait("Provider", "Nspawn")]
[Trait("User", "Root")]
public sealed class NspawnConfinementTests : IDisposable
{
    private readonly BusyboxStore? _store;
    private readonly TemporaryFolder _shared = new("nspawn-shared");

    public NspawnConfinementTests()
    {
        if (Environment.UserName == "root") _store = new BusyboxStore("nspawn-confinement");
    }

    public void Dispose()
    {
        if (_store is not null)
            foreach (var sandbox in _store.Engine.GetSandboxes()) _store.Engine.RemoveSandbox(sandbox);
        _store?.Dispose();
        _shared.Dispose();
    }

    private SandboxEngine Engine => _store!.Engine;

    private SandboxInfo NewSandbox() => Engine.CreateSandbox(new SandboxCreateOptions
    {
        Image = HarnessFixture.ImageName,
        Provider = ProviderName.Nspawn,
        Mounts = new[] { new BindMount(_shared.Path, "/shared", ReadOnly: false) },
    });

    private static SandboxCommand Sh(string script) => new() { Argv = new[] { "sh", "-c", script }, Timeout = TimeSpan.FromSeconds(120) };

    /// <summary>The v2 hierarchy as nspawn mounts it inside (hybrid host: under unified/).</summary>
    private static string UnifiedInside => Directory.Exists("/sys/fs/cgroup/unified") ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup";

    [SkippableFact]
    public void One_sandbox_cannot_kill_another_sandboxs_command_through_cgroup_kill()
    {
        Skip.If(_store is null, "systemd-nspawn needs root; run the tests as root (CI does).");
        var a = NewSandbox();
        var b = NewSandbox();
        // A's command waits for B to have tried; killed, it never prints.
        var running = Task.Run(() => Engine.Invoke(a, Sh(
            "touch /shared/a-started; while [ ! -e /shared/b-done ]; do sleep 0.1; done; echo survived")));
        Assert.True(Poll.Until(() => File.Exists(Path.Combine(_shared.Path, "a-started")), TimeSpan.FromSeconds(60)), "A's command started");

        // B kills its own command (cgroup.kill of its own root; nspawn may report its container's
        // death as a setup failure), never A's.
        try
        {
            Assert.DoesNotContain("after-kill", Engine.Invoke(b, Sh($"echo 1 > {UnifiedInside}/cgroup.kill; echo after-kill")).StdOut);
        }
        catch (SandboxException killed) when (killed.ErrorId == "SandboxSetupFailed") { }
        File.WriteAllText(Path.Combine(_shared.Path, "b-done"), "");

        var survivor = running.Wait(TimeSpan.FromSeconds(120)) ? running.Result : throw new TimeoutException("A's command never ended");
        Assert.Equal("survived\n", survivor.StdOut);
        Assert.Equal(0, survivor.ExitCode);
    }

    [SkippableFact]
    public void A_sandbox_sees_only_its_own_cgroup()
    {
        Skip.If(_store is null, "systemd-nspawn needs root; run the tests as root (CI does).");
        var a = NewSandbox();
        var b = NewSandbox();
        var running = Task.Run(() => Engine.Invoke(a, Sh(
            "touch /shared/a-started; while [ ! -e /shared/b-done ]; do sleep 0.1; done")));
        Assert.True(Poll.Until(() => File.Exists(Path.Combine(_shared.Path, "a-started")), TimeSpan.FromSeconds(60)), "A's command started");

        // Every process in B's cgroup tree is one of B's (a process of another pid namespace would be listed as 0).
        var procs = Engine.Invoke(b, Sh($"cat $(find {UnifiedInside} -name cgroup.procs)"));
        File.WriteAllText(Path.Combine(_shared.Path, "b-done"), "");
        running.Wait(TimeSpan.FromSeconds(120));

        Assert.Equal(0, procs.ExitCode);
        var pids = procs.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(pids);
        Assert.DoesNotContain("0", pids);
        Assert.All(pids, pid => Assert.True(int.Parse(pid) < 20, $"pid {pid} is not one of B's own few processes"));
    }

    [SkippableFact]
    public void A_cgroup_made_inside_is_gone_from_the_host_after_the_sandbox_is_removed()
    {
        Skip.If(_store is null, "systemd-nspawn needs root; run the tests as root (CI does).");
        var sandbox = NewSandbox();
        var name = $"made-inside-{Guid.NewGuid():N}";
        var made = Engine.Invoke(sandbox, Sh($"mkdir {UnifiedInside}/{name} && echo made"));
        Assert.Equal("made\n", made.StdOut);

        Engine.RemoveSandbox(sandbox);

        var hostRoot = Cgroups.SandboxCgroup.UnifiedRoot!;
        Assert.Empty(Directory.EnumerateDirectories(hostRoot, name, SearchOption.AllDirectories));
        Assert.False(Directory.Exists(Path.Combine(hostRoot, Cgroups.SandboxCgroup.Of(sandbox).Relative)), "the sandbox's cgroup is gone");
    }

    [SkippableFact]
    public void Four_commands_started_at_once_in_one_sandbox_all_succeed_queued_one_after_another()
    {
        Skip.If(_store is null, "systemd-nspawn needs root; run the tests as root (CI does).");
        var sandbox = NewSandbox();
        // Each command mounts its own overlay over the sandbox's one upper layer, which overlayfs
        // does not allow at the same time, so the engine queues them: all four must succeed (on the
        // old code three failed with "busy") and every write must land in the layer.
        var commands = Enumerable.Range(0, 4).Select(i => Task.Run(() => Engine.Invoke(sandbox, Sh(
            $"touch /shared/started-{i}; echo {i} >> /root/log; echo ok-{i}")))).ToArray();
        Task.WaitAll(commands, TimeSpan.FromMinutes(3));

        for (var i = 0; i < 4; i++)
        {
            Assert.True(commands[i].IsCompletedSuccessfully, $"command {i}: {commands[i].Exception?.GetBaseException().Message}");
            Assert.Equal($"ok-{i}\n", commands[i].Result.StdOut);
            Assert.Equal(0, commands[i].Result.ExitCode);
        }
        Assert.Equal("0123", string.Concat(Engine.Invoke(sandbox, Sh("sort /root/log")).StdOut.Split('\n')));
        Assert.Equal(4, Directory.GetFiles(_shared.Path, "started-*").Length);
    }
}
