using System.Collections.Concurrent;

namespace Sandbox.Processes;

/// <summary>
/// Threads of our own for work that blocks for as long as a command runs (a cmdlet's engine call,
/// the output pump of a command), kept after their work for the next one. Never the thread pool:
/// 8 or 32 runspaces of ForEach-Object -Parallel each blocking a pool thread starved it (it adds
/// about one thread a second) and independent commands waited on one another. Never a queue either:
/// work starts at once, on an idle thread if there is one, else on a new one, so no work waits for
/// other work. What reuse saves is a thread's making and ending per command (clone, stack, the
/// runtime's setup and teardown, two per Invoke-SandboxCommand), measured on this path.
/// A thread idle for <see cref="IdleLifetime"/> ends. Work runs in the execution context of its
/// caller (AsyncLocal values, culture), as a Task would, and the thread's own context is restored after.
/// A thread is only kept if it was made in the process's own mount namespace: a thread inherits the
/// namespace of the thread that makes it, and one made on a thread of a private namespace (see
/// Native.IdMappedMount) must not carry it into later commands.
/// </summary>
internal static class DedicatedThreads
{
    /// <summary>How long an idle thread waits for more work before it ends.</summary>
    public static readonly TimeSpan IdleLifetime = TimeSpan.FromSeconds(30);

    private static readonly ConcurrentStack<Worker> Idle = new();
    private static readonly string? ProcessMountNamespace = MountNamespaceOf("/proc/self/ns/mnt");

    /// <summary>Threads waiting for work now (some may be ending).</summary>
    public static int IdleCount => Idle.Count;

    /// <summary>On a thread of ours: how many works it has started, this one included (0 elsewhere).</summary>
    public static int WorksOnThisThread => _worksOnThisThread;

    [ThreadStatic] private static int _worksOnThisThread;

    /// <summary>The name every such thread has (ps -L, top -H); one name, since renaming a thread is a write to /proc.</summary>
    public const string ThreadName = "sandbox worker";

    /// <summary>Starts <paramref name="work"/> now on a thread of its own; it must catch what it throws.</summary>
    public static void Start(Action work)
    {
        var job = new Job(work, ExecutionContext.Capture());
        while (Idle.TryPop(out var idle))
            if (idle.TryTake(job)) return;
        new Worker(job).Start();
    }

    private sealed record Job(Action Work, ExecutionContext? Context);

    private sealed class Worker
    {
        private const int Busy = 0, Waiting = 1, Ended = 2;
        // No spinning before it blocks (SemaphoreSlim spins with sched_yield): an idle thread sleeps
        // at once instead of taking CPU from the command that has just started.
        private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
        private readonly Thread _thread;
        private Job? _job;
        private int _state = Busy;

        public Worker(Job first)
        {
            _job = first;
            _thread = new Thread(Loop) { IsBackground = true, Name = ThreadName };
        }

        public void Start() => _thread.Start();

        /// <summary>Hands <paramref name="job"/> to this idle thread; false if it ended meanwhile.</summary>
        public bool TryTake(Job job)
        {
            if (Interlocked.CompareExchange(ref _state, Busy, Waiting) != Waiting) return false;
            Volatile.Write(ref _job, job);
            _wake.Set();
            return true;
        }

        private void Loop()
        {
            var reusable = ProcessMountNamespace is not null && MountNamespaceOf("/proc/thread-self/ns/mnt") == ProcessMountNamespace;
            while (true)
            {
                var job = Volatile.Read(ref _job)!;
                _job = null;
                _worksOnThisThread++;
                Run(job);
                if (!reusable) return;
                _wake.Reset(); // before the thread can be handed work: a Set from then on is for the next job
                Volatile.Write(ref _state, Waiting);
                Idle.Push(this);
                if (_wake.Wait(IdleLifetime)) continue;
                // Idle too long: end, unless work was handed over at this very moment.
                if (Interlocked.CompareExchange(ref _state, Ended, Waiting) == Waiting) return;
                _wake.Wait();
            }
        }

        private static void Run(Job job)
        {
            if (job.Context is null) job.Work();
            else ExecutionContext.Run(job.Context, static state => ((Action)state!)(), job.Work);
        }
    }

    private static string? MountNamespaceOf(string link)
    {
        try { return new FileInfo(link).LinkTarget; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }
}
