using Sandbox.Native;
using Sandbox.Processes;
using Sandbox.Providers;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;
using static Sandbox.Tests.Support.HostProcesses;

namespace Sandbox.Tests.Speed;

/// <summary>
/// A FakeChroot sandbox that finds no ready copy of its image makes its own at once: it never waits
/// for the pool's refill, which copies at nice 19 for a later sandbox (on a busy machine that wait was
/// seconds, behind every other process). The refill is caught in the middle of its copy and stopped
/// (SIGSTOP), so the take meets a refill that cannot finish until the test lets it.
/// </summary>
[Trait("Area", "Speed")]
public sealed class FarmPoolTakeTests
{
    private const int SIGSTOP = 19, SIGCONT = 18;

    [SkippableFact]
    public void A_take_with_no_ready_copy_makes_its_own_and_never_waits_for_a_refill_under_way()
    {
        Skip.If(Environment.UserName != "root", "copies an image root imported; run the tests as root (CI does).");
        using var store = new BusyboxStore("farm-take");
        var tree = BusyboxTree.Create(Path.Combine(store.Root, "..", "big-tree"));
        // Enough files that the refill's cp is still copying when the test looks for it.
        for (var folder = 0; folder < 40; folder++)
        {
            Directory.CreateDirectory(Path.Combine(tree, $"d{folder}"));
            for (var file = 0; file < 100; file++) File.WriteAllText(Path.Combine(tree, $"d{folder}", $"f{file}"), "x");
        }
        var image = store.Engine.Images.Import("big", tree, force: false);
        var pool = new FarmPool(store.Engine.Layout, new RecordingLog());

        for (var attempt = 1; ; attempt++)
        {
            var refill = Task.Run(() => pool.Refill(image, background: true));
            var copier = StopTheCopy(refill);
            if (copier is null)
            {
                // The copy ended before it could be stopped: empty the pool and try again.
                refill.Wait();
                Assert.True(attempt < 20, "the refill's copy was never caught while it ran");
                var taken = Path.Combine(store.Root, "..", $"drained-{attempt}");
                pool.Take(image, taken);
                continue;
            }
            try
            {
                var target = Path.Combine(store.Root, "..", "taken");
                var take = Task.Run(() => pool.Take(image, target));
                // Not a timing assertion: with the refill stopped, a take that waits for it never ends.
                Assert.True(take.Wait(TimeSpan.FromMinutes(2)), "the take waited for the stopped refill");
                Assert.True(File.Exists(Path.Combine(target, "d39", "f99")), "the take's own copy is whole");
            }
            finally { LibC.kill(copier.Value, SIGCONT); }
            refill.Wait();
            Assert.Single(Directory.GetDirectories(Path.Combine(store.Engine.Layout.ImageFolder("big"), ".farms"), "ready-*"));
            return;
        }
    }

    /// <summary>Stops this process's cp while the refill runs; its pid, or null when the refill ended first.</summary>
    private static int? StopTheCopy(Task refill)
    {
        while (!refill.IsCompleted)
        {
            foreach (var pid in ProcessTree.Descendants(Environment.ProcessId))
            {
                if (Comm(pid) != "cp") continue;
                if (LibC.kill(pid, SIGSTOP) != 0) continue;
                // Stopped, unless it was already gone (then the refill ends on its own).
                for (var look = 0; look < 1000 && State(pid) is { } state && state != 'T'; look++) Thread.Sleep(1);
                if (State(pid) == 'T') return pid;
            }
            Thread.Sleep(1);
        }
        return null;
    }

    private static string? Stat(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/stat"); }
        catch (IOException) { return null; }
    }

    /// <summary>The fields after the command name (which may hold spaces and parentheses).</summary>
    private static string[]? Fields(int pid) => Stat(pid) is { } stat ? stat[(stat.LastIndexOf(')') + 2)..].Split(' ') : null;

    private static char? State(int pid) => Fields(pid) is { } fields ? fields[0][0] : null;
}
