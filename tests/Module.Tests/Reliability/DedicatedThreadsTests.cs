using Sandbox.Processes;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// The threads that run cmdlet calls and output pumps: work starts at once whatever else runs (no
/// queue, no thread pool to starve), runs in its caller's execution context, and a thread that ended
/// its work serves later work instead of a new thread being made per command.
/// </summary>
[Trait("Area", "Reliability")]
public sealed class DedicatedThreadsTests
{
    private static readonly AsyncLocal<string?> Flowing = new();

    [Fact]
    public void Work_started_while_other_work_blocks_runs_at_once()
    {
        const int blockers = 40;
        using var release = new ManualResetEventSlim();
        using var allStarted = new CountdownEvent(blockers);
        try
        {
            for (var i = 0; i < blockers; i++)
                DedicatedThreads.Start(() =>
                {
                    allStarted.Signal();
                    release.Wait();
                });
            // 40 blocked at once: a queue or a pool of fixed size would not start them all.
            Assert.True(allStarted.Wait(TimeSpan.FromSeconds(60)), $"{allStarted.CurrentCount} of {blockers} works never started");
        }
        finally
        {
            release.Set();
        }
    }

    [Fact]
    public void Work_sees_the_async_local_values_of_its_caller_and_leaves_none_on_the_thread()
    {
        Flowing.Value = "caller";
        var seen = new List<string?>();
        using var done = new ManualResetEventSlim();
        DedicatedThreads.Start(() =>
        {
            lock (seen) seen.Add(Flowing.Value);
            Flowing.Value = "changed by the work";
            done.Set();
        });
        Assert.True(done.Wait(TimeSpan.FromSeconds(60)));
        Flowing.Value = null;
        Assert.Equal(new[] { "caller" }, seen);

        // Work started with no value does not see the earlier work's change on a reused thread.
        done.Reset();
        DedicatedThreads.Start(() =>
        {
            lock (seen) seen.Add(Flowing.Value);
            done.Set();
        });
        Assert.True(done.Wait(TimeSpan.FromSeconds(60)));
        Assert.Null(seen[1]);
    }

    [Fact]
    public void A_thread_whose_work_ended_runs_later_work()
    {
        // Other tests start work meanwhile and may take the idle thread first: a few tries, one
        // must land on a thread that had run work before (never, if each work got a new thread).
        var reused = false;
        for (var attempt = 0; attempt < 20 && !reused; attempt++)
        {
            Assert.Equal(0, DedicatedThreads.WorksOnThisThread); // a test thread is none of ours
            RunAndWait(() => DedicatedThreads.WorksOnThisThread);
            Assert.True(Poll.Until(() => DedicatedThreads.IdleCount > 0, TimeSpan.FromSeconds(30)), "no thread went idle after its work");
            reused = RunAndWait(() => DedicatedThreads.WorksOnThisThread) > 1;
        }
        Assert.True(reused, "every work ran on a thread of its own");
    }

    private static int RunAndWait(Func<int> work)
    {
        var result = -1;
        using var done = new ManualResetEventSlim();
        DedicatedThreads.Start(() =>
        {
            result = work();
            done.Set();
        });
        Assert.True(done.Wait(TimeSpan.FromSeconds(60)));
        return result;
    }
}
