using System.Diagnostics;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// A sandbox's processes are found by what they are, not by their text: removal kills a running
/// command of the sandbox (started by another process) and leaves alone a host process that merely
/// names a file of the sandbox. Nothing outlives its owner: kill -9 of the engine ends the command
/// without any reaping, and leaves no peak-memory report behind.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class ProcessLifetimeTests
{
    [SkippableFact]
    public void Removal_kills_the_sandboxs_running_command_but_not_a_host_tail_of_a_file_in_its_merged_folder()
    {
        // Root Bubblewrap keeps merged/ mounted on the host: the host tail reads the sandbox's file there.
        using var root = new RootSandbox("tail-of-merged");
        var (store, engine, sandbox) = (root.Store.Root, root.Engine, root.Sandbox);
        Assert.Equal(0, root.Run("sh", "-c", "echo started > /root/app.log").ExitCode);
        var seconds = Random.Shared.Next(1000, 9999).ToString();
        // Another engine (as another session would) runs a command that is still running at removal.
        var other = new SandboxEngine(new Storage.StoreLayout(store));
        var running = Task.Run(() => other.Invoke(other.GetSandbox(sandbox.Id), new SandboxCommand { Argv = new[] { "sleep", seconds } }));
        Assert.True(Poll.Until(() => HostProcesses.WithCommandLine("sleep", seconds).Count == 1, TimeSpan.FromSeconds(20)), "the command is running");

        var log = Path.Combine(store, "sandboxes", sandbox.Id, "merged", "root", "app.log");
        using var tail = Process.Start(new ProcessStartInfo("tail", new[] { "-f", log }) { RedirectStandardOutput = true })!;
        try
        {
            Assert.Equal("started", tail.StandardOutput.ReadLine());

            engine.RemoveSandbox(engine.GetSandbox(sandbox.Id));

            Assert.Empty(HostProcesses.StillRunningAfter(TimeSpan.FromSeconds(10), "sleep", seconds));
            Assert.False(tail.HasExited, "a host process that names a file of the sandbox is not the sandbox's");
            Assert.False(Directory.Exists(Path.Combine(store, "sandboxes", sandbox.Id)));
            // The killed command's Invoke ends (how it reports a sandbox removed under it is not this test's concern).
            Assert.True(((IAsyncResult)running).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30)), "the removed sandbox's Invoke returned");
        }
        finally
        {
            if (!tail.HasExited) tail.Kill();
            tail.WaitForExit();
        }
    }

    [SkippableTheory]
    [InlineData(ProviderName.Bubblewrap, true)]
    [InlineData(ProviderName.Bubblewrap, false)]
    [InlineData(ProviderName.Nspawn, true)]
    public void Killing_the_owner_ends_its_running_command_without_reaping_and_leaves_no_report_file(ProviderName provider, bool asRoot)
    {
        Skip.If(Environment.UserName != "root", "the test starts owners as root and as the test user; run the tests as root (CI does).");
        using var tree = new TemporaryFolder("owner-killed-tree");
        // The owner's own temporary folder, so that a report file it leaves is ours to see, not
        // one of a test running beside us.
        using var temporary = new TemporaryFolder("owner-killed-tmp");
        File.SetUnixFileMode(temporary.Path, (UnixFileMode)0b111_111_111 | UnixFileMode.StickyBit);
        var owner = new RemoteHarness(asRoot, environment: new Dictionary<string, string> { ["TMPDIR"] = temporary.Path });
        var killed = false;
        try
        {
            owner.Import(HarnessFixture.ImageName, BusyboxTree.Create(Path.Combine(tree.Path, "rootfs")));
            var sandbox = owner.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = provider });
            var seconds = Random.Shared.Next(1000, 9999).ToString();
            // A double-forked daemon too: with Bubblewrap and Nspawn it is in the command's pid namespace.
            owner.StartInvoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", $"(sleep {seconds} &) ; sleep {seconds}" } });
            Assert.True(Poll.Until(() => HostProcesses.WithCommandLine("sleep", seconds).Count == 2, TimeSpan.FromSeconds(20)), "the command is running");

            owner.KillHost();
            killed = true;

            // No reaping here: the command must die with its owner, not wait for the next import.
            Assert.Empty(HostProcesses.StillRunningAfter(TimeSpan.FromSeconds(30), "sleep", seconds));
            Assert.Empty(Directory.GetFileSystemEntries(temporary.Path, "sandbox-peak-memory-*"));

            using var reaper = new RemoteHarness(asRoot, sharedStore: owner.StoreRoot);
            Assert.Contains(sandbox.Name, reaper.ReapOrphans());
        }
        finally
        {
            // A host still running a command would never answer Dispose's questions.
            if (!killed) owner.KillHost();
            owner.Dispose();
        }
    }

    [SkippableTheory]
    [InlineData(ProviderName.Bubblewrap)]
    [InlineData(ProviderName.Nspawn)]
    public void A_command_does_not_hold_the_peak_memory_report_so_it_cannot_forge_it(ProviderName provider)
    {
        using var root = new RootSandbox("descriptors", provider);

        // Old versions left time's report open as descriptor 3 (a /tmp file, inherited through time).
        var result = root.Run("sh", "-c", "ls -l /proc/$$/fd/");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("pipe:[", result.StdOut); // the loop ran: stdout is our pipe
        Assert.DoesNotContain("sandbox-peak-memory", result.StdOut);
        Assert.True(result.PeakMemoryBytes is > 0 and < 50L * 1024 * 1024, $"peak memory {result.PeakMemoryBytes} is the command's, measured by time");
        root.Engine.RemoveSandbox(root.Sandbox);
    }
}
