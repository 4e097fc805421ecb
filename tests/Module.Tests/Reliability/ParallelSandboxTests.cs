using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>16 sandboxes of one image at once, from threads of one process and from 16 processes: each sees only its own writes.</summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class ParallelSandboxTests
{
    private const int Count = 16;

    [SkippableTheory]
    [InlineData(ProviderName.Bubblewrap)]
    [InlineData(ProviderName.Nspawn)]
    public void Sixteen_threads_each_see_only_their_own_writes(ProviderName provider)
    {
        Skip.If(Environment.UserName != "root", "runs as root; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("parallel-threads");
        var engine = busybox.Engine;

        var seen = new string[Count];
        Parallel.For(0, Count, new ParallelOptions { MaxDegreeOfParallelism = Count }, i =>
        {
            var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = provider });
            engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sh", "-c", $"echo {i} > /root/mine-{i}; echo {i} >> /data/file.txt" } });
            seen[i] = engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sh", "-c", "ls /root; tail -n 1 /data/file.txt" } }).StdOut;
            engine.RemoveSandbox(sandbox);
        });

        for (var i = 0; i < Count; i++) Assert.Equal($"mine-{i}\n{i}\n", seen[i]);
        Assert.Empty(engine.GetSandboxes());
    }

    [SkippableFact]
    public void Sixteen_processes_on_one_store_each_see_only_their_own_writes()
    {
        Skip.If(Environment.UserName != "root", "runs as root; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("parallel-processes");
        var (store, engine) = (busybox.Root, busybox.Engine);

        var hosts = Enumerable.Range(0, Count).AsParallel().WithDegreeOfParallelism(Count)
            .Select(_ => new RemoteHarness(asRoot: true, sharedStore: store)).ToList();
        try
        {
            var seen = hosts.AsParallel().WithDegreeOfParallelism(Count).Select((host, i) =>
            {
                var sandbox = host.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
                host.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", $"echo {host.HostPid} > /root/owner" } });
                var listed = host.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", "ls /root; cat /root/owner" } }).StdOut;
                return (host.HostPid, listed, sandbox.Id);
            }).ToList();

            Assert.Equal(Count, seen.Select(s => s.Id).Distinct().Count());
            Assert.Equal(Count, engine.GetSandboxes().Count);
            Assert.All(seen, s => Assert.Equal($"owner\n{s.HostPid}\n", s.listed));
        }
        finally
        {
            foreach (var host in hosts) host.Dispose();
        }
        Assert.Empty(engine.GetSandboxes());
    }

    /// <summary>
    /// Rootless, each command mounts its own overlay over the sandbox's upper directory, which the
    /// kernel does not allow to be shared: the engine queues them (a lock in the state folder), so
    /// four Invokes from four processes at once all succeed and every write lands.
    /// </summary>
    [SkippableFact]
    [Trait("User", "NonRoot")]
    public void Four_commands_at_once_in_one_rootless_Bubblewrap_sandbox_all_succeed_and_all_their_writes_land()
    {
        Skip.If(!UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        const int commands = 4;
        using var tree = new TemporaryFolder("parallel-rootless-tree");
        using var owner = new RemoteHarness();
        owner.Import(HarnessFixture.ImageName, BusyboxTree.Create(Path.Combine(tree.Path, "rootfs")));
        var sandbox = owner.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        var others = Enumerable.Range(1, commands - 1).AsParallel()
            .Select(_ => new RemoteHarness(asRoot: false, sharedStore: owner.StoreRoot)).ToList();
        try
        {
            var hosts = others.Prepend(owner).ToList();
            var results = hosts.AsParallel().WithDegreeOfParallelism(commands).Select((host, i) => host.Invoke(sandbox.Id, new SandboxCommand
            {
                // Each looks the image's file up before any of them writes it, then appends to it: with
                // an overlay per command at once, each copied it up on its own and the last copy won.
                Argv = new[] { "sh", "-c", $"cat /data/file.txt >/dev/null && mkdir /root/d{i} && echo {i} > /root/d{i}/f && sleep 2 && echo line-{i} >> /data/file.txt && cat /root/d{i}/f" },
            })).ToList();

            Assert.All(results, r => Assert.Equal(0, r.ExitCode));
            Assert.Equal(Enumerable.Range(0, commands).Select(i => $"{i}\n").Order(), results.Select(r => r.StdOut).Order());
            var after = owner.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", "ls /root | grep '^d' | tr '\\n' ' '; grep '^line-' /data/file.txt | sort | tr '\\n' ' '" } });
            Assert.Equal("d0 d1 d2 d3 line-0 line-1 line-2 line-3 ", after.StdOut);
        }
        finally
        {
            foreach (var other in others) other.Dispose();
        }
    }
}
