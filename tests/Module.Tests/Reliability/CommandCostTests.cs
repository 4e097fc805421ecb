using Sandbox.Processes;
using Sandbox.Providers;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// A command costs what it must (issue 12): the launch chain has no link that is not needed, a
/// sandbox named by its id is read alone (not the whole store), and the totals of a command reach
/// the object the caller holds without reading the store back. The guarantees the removed work
/// gave are the subject of other tests (ProcessLifetimeTests: the chain still dies with the engine
/// and the peak memory is still the command's).
/// </summary>
[Trait("Area", "Reliability")]
public sealed class CommandCostTests
{
    private static readonly string[] Backend = { "/usr/bin/bwrap", "--die-with-parent", "--", "/bin/true" };

    private static int Count(IReadOnlyList<string> argv, string tool) => argv.Count(a => Path.GetFileName(a) == tool);

    [SkippableFact]
    public void A_backend_that_dies_with_its_parent_by_itself_gets_no_setpriv_of_its_own()
    {
        Skip.If(ToolLocator.Find("setpriv") is null || ToolLocator.Find("time") is null, "needs setpriv and time (util-linux, time)");
        using var meter = new PeakMemoryMeter();

        var chain = BackendProcess.Chain(meter, Backend, ownPidNamespace: false, backendDiesWithParent: true, helper: null);

        // Where the launch helper cannot run: setpriv -> time -> sh (closes time's report) -> bwrap: the one setpriv is the one before time.
        Assert.Equal(1, Count(chain, "setpriv"));
        Assert.Equal("setpriv", Path.GetFileName(chain[0]));
        Assert.Equal("time", Path.GetFileName(chain[4]));
        Assert.Equal(Backend, chain.Skip(chain.Count - Backend.Length));
        var sh = chain.ToList().FindIndex(a => Path.GetFileName(a) == "sh");
        Assert.Equal("/usr/bin/bwrap", chain[sh + 4]); // sh -c SCRIPT NAME, then the backend itself
    }

    [SkippableFact]
    public void Any_other_backend_keeps_its_setpriv_and_unshare_gets_one_too()
    {
        Skip.If(ToolLocator.Find("setpriv") is null || ToolLocator.Find("time") is null, "needs setpriv and time (util-linux, time)");
        using var meter = new PeakMemoryMeter();
        var fakeChroot = new[] { "/usr/bin/fakechroot", "/bin/true" };

        Assert.Equal(2, Count(BackendProcess.Chain(meter, fakeChroot, ownPidNamespace: false, backendDiesWithParent: false, helper: null), "setpriv"));
        // unshare asks for a parent-death signal for its child only, so it keeps the setpriv before
        // it even when what it runs would set its own.
        Assert.Equal(2, Count(BackendProcess.Chain(meter, Backend, ownPidNamespace: true, backendDiesWithParent: true, helper: null), "setpriv"));
    }

    [SkippableFact]
    public void With_the_launch_helper_the_chain_is_the_helper_its_report_and_the_backend()
    {
        Skip.IfNot(LaunchHelper.Supported, "the launch helper is x86-64 only");
        using var meter = new PeakMemoryMeter();

        var chain = BackendProcess.Chain(meter, Backend, ownPidNamespace: false, backendDiesWithParent: true);

        Assert.Matches($"^/proc/{Environment.ProcessId}/fd/[0-9]+$", chain[0]);
        Assert.Matches($"^/proc/{Environment.ProcessId}/fd/[0-9]+$", chain[1]);
        Assert.Equal(Backend, chain.Skip(2));
    }

    [SkippableFact]
    public void A_sandbox_named_by_id_is_read_alone_so_a_broken_sibling_does_not_fail_it()
    {
        Skip.If(Environment.UserName != "root", "root Bubblewrap; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("get-by-id");
        var engine = busybox.Engine;
        var healthy = engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        var broken = engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        var brokenState = Path.Combine(broken.StatePath, "state.json");
        var saved = File.ReadAllText(brokenState);
        try
        {
            // A state.json that cannot be read as a file: listing the store fails on it.
            File.Delete(brokenState);
            Directory.CreateDirectory(brokenState);

            var found = engine.GetSandbox(healthy.Id);

            Assert.Equal(healthy.Name, found.Name);
            Assert.Equal(healthy.StatePath, found.StatePath);
            Assert.Equal(0, engine.Invoke(found, new SandboxCommand { Argv = new[] { "true" } }).ExitCode);
        }
        finally
        {
            if (Directory.Exists(brokenState)) Directory.Delete(brokenState);
            File.WriteAllText(brokenState, saved);
            engine.RemoveSandbox(healthy);
            engine.RemoveSandbox(broken);
        }
    }

    [SkippableFact]
    public void A_command_gives_the_held_sandbox_its_new_totals()
    {
        Skip.If(Environment.UserName != "root", "root Bubblewrap; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("held-totals");
        var engine = busybox.Engine;
        var held = engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        try
        {
            engine.Invoke(held, new SandboxCommand { Argv = new[] { "true" } });
            engine.Invoke(held, new SandboxCommand { Argv = new[] { "sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done" } });

            var stored = engine.GetSandbox(held.Id);
            Assert.Equal(2, held.CommandsRun);
            Assert.Equal(stored.CommandsRun, held.CommandsRun);
            Assert.Equal(stored.UserCpu, held.UserCpu);
            Assert.Equal(stored.SystemCpu, held.SystemCpu);
            Assert.Equal(stored.PeakMemoryBytes, held.PeakMemoryBytes);
            Assert.True(held.PeakMemoryBytes > 0);
        }
        finally
        {
            engine.RemoveSandbox(held);
        }
    }
}
