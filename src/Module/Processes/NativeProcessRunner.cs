using System.Diagnostics;
using System.Runtime.InteropServices;
using Sandbox.Native;
using static Sandbox.Native.LibC;

namespace Sandbox.Processes;

/// <summary>
/// Runs a host process with posix_spawn and reaps it with wait4, because System.Diagnostics.Process
/// reaps its children itself and so never shows the kernel's rusage (CPU times, peak RSS).
/// The child gets its own process group, so a timeout or cancellation kills the whole tree; default
/// signal dispositions, because .NET ignores SIGPIPE and an ignored signal survives exec; and a
/// clean environment. stdin, stdout and stderr move in one poll loop on a thread of its own
/// (<see cref="PipePump"/>); each output stream is kept up to a limit, as bytes, and can also be
/// streamed line by line. A result never comes back silently incomplete: it says what it dropped.
/// </summary>
internal static unsafe class NativeProcessRunner
{
    /// <summary>
    /// How long the pipes may stay open, with nothing moving, after the process ended before we call
    /// it a leftover process holding them: it is then killed deliberately (its process group), and if
    /// the pipes stay open still, they are abandoned and the result says its output was cut off.
    /// Output that keeps flowing, or a slow line consumer, never counts against it.
    /// </summary>
    private static readonly TimeSpan LeftoverGrace = TimeSpan.FromSeconds(2);

    public static ProcessOutcome Run(ProcessSpec spec, Action<string>? onStdOutLine = null,
        CancellationToken cancellation = default, Action<string>? onStdErrLine = null)
    {
        if (spec.Argv.Count == 0) throw SandboxErrors.EmptyCommand();
        // Never start what cannot be supervised: Timer refuses more than ~49.7 days, after the start.
        SandboxErrors.RequireSupervisableTimeout(spec.Timeout);

        var stdoutCapture = new OutputCapture(spec.StdOutLimit, onStdOutLine);
        var stderrCapture = new OutputCapture(spec.StdErrLimit, onStdErrLine);
        var streaming = spec.StdOutConsumer is { } consumer ? new StreamingStdOut(consumer) : null;
        Pipe? stdinPipe = spec.StandardInput is null ? null : CreatePipe();
        var stdoutPipe = CreatePipe();
        var stderrPipe = CreatePipe();
        var stopwatch = Stopwatch.StartNew();
        int pid;
        try
        {
            pid = Spawn(spec, stdinPipe?.Read ?? -1, stdoutPipe.Write, stderrPipe.Write);
        }
        catch
        {
            if (stdinPipe is { } input) close(input.Write);
            close(stdoutPipe.Read);
            close(stderrPipe.Read);
            throw;
        }
        finally
        {
            // The child has its copies (or never started); the parent keeps only its own ends.
            if (stdinPipe is { } p) close(p.Read);
            close(stdoutPipe.Write);
            close(stderrPipe.Write);
        }

        // The caller's record of the running process (RunningCommands), removed once it is reaped.
        using var started = spec.Started?.Invoke(pid);

        var pump = new PipePump(stdinPipe?.Write ?? -1, spec.StandardInput, stdoutPipe.Read, stdoutCapture, stderrPipe.Read, stderrCapture, streaming);
        var group = new ProcessGroup(pid);
        streaming?.Start(stop: () => group.Kill(timedOut: false));
        pump.Start();

        using var timer = spec.Timeout is { } t
            ? new Timer(_ => group.Kill(timedOut: true), null, t, Timeout.InfiniteTimeSpan)
            : null;
        using var registration = cancellation.Register(() => group.Kill(timedOut: false));

        group.WaitForExit();
        stopwatch.Stop();
        var leftoverKilled = DrainOutput(pump, group, stdoutCapture, stderrCapture);
        streaming?.Join();
        var (status, usage) = group.Reap();
        pump.ThrowIfFailed();
        // The consumer's failure is the answer, with what the command said on stderr; unless the
        // caller cancelled or the timeout struck, which cut the stream and are reported as such.
        if (streaming?.Failure is { } failure && !cancellation.IsCancellationRequested && !group.TimedOut)
            throw new StdOutConsumerException(failure, stderrCapture.Text(), (status & 0x7f) != 0 ? null : (status >> 8) & 0xff);

        var signalled = (status & 0x7f) != 0;
        return new ProcessOutcome
        {
            ExitCode = signalled ? null : (status >> 8) & 0xff,
            Signal = signalled ? status & 0x7f : null,
            TimedOut = group.TimedOut,
            Cancelled = group.Cancelled && (streaming is null || cancellation.IsCancellationRequested),
            StdOut = spec.BinaryStdOut ? "" : stdoutCapture.Text(),
            StdErr = stderrCapture.Text(),
            StdOutBytes = stdoutCapture.Bytes(),
            StdOutLength = streaming?.Seen ?? stdoutCapture.Seen,
            StdErrLength = stderrCapture.Seen,
            StdOutTruncated = stdoutCapture.Truncated,
            StdErrTruncated = stderrCapture.Truncated,
            StdOutCutOff = stdoutCapture.CutOff,
            StdErrCutOff = stderrCapture.CutOff,
            LeftoverKilled = leftoverKilled,
            Duration = stopwatch.Elapsed,
            UserCpu = usage.UserTime.ToTimeSpan(),
            SystemCpu = usage.SystemTime.ToTimeSpan(),
            PeakMemoryBytes = usage.MaxRssKiB * 1024,
        };
    }

    /// <summary>
    /// After the process ended (still a zombie, so its pid and process group id cannot be reused):
    /// waits for every pipe to reach its end. The pipes look held by a leftover process when they
    /// sit idle for <see cref="LeftoverGrace"/>, or when more arrives than they could hold at the
    /// exit (a background job still writing, which would otherwise keep us here for ever). If live
    /// processes remain in the group, they are killed. If the pipes still do not end within
    /// <see cref="AbandonAfter"/> (a holder that left the group), they are abandoned. Either way
    /// the streams still open are marked cut off. A pump that was merely slow to be scheduled, with
    /// nobody left in the group, gets the whole <see cref="AbandonAfter"/> to finish unmarked.
    /// Returns whether leftovers were killed.
    /// </summary>
    private static bool DrainOutput(PipePump pump, ProcessGroup group, OutputCapture stdout, OutputCapture stderr)
    {
        var killed = false;
        var mark = pump.BytesRead;
        var capacity = pump.PipeCapacity();
        Stopwatch? suspicion = null;
        while (!pump.WaitForEnd(TimeSpan.FromMilliseconds(100)))
        {
            if (!pump.IdleFor(LeftoverGrace) && pump.BytesRead - mark <= capacity) continue;
            if (!killed && group.HasLeftovers())
            {
                MarkOpenStreamsCutOff(pump, stdout, stderr);
                group.KillLeftovers();
                killed = true;
                mark = pump.BytesRead;
                capacity = pump.PipeCapacity();
                continue;
            }
            suspicion ??= Stopwatch.StartNew();
            if (suspicion.Elapsed < AbandonAfter) continue;
            MarkOpenStreamsCutOff(pump, stdout, stderr);
            pump.Abandon();
            break;
        }
        return killed;
    }

    /// <summary>How long pipes held by no process of ours are waited for before they are abandoned.</summary>
    private static readonly TimeSpan AbandonAfter = TimeSpan.FromSeconds(10);

    private static void MarkOpenStreamsCutOff(PipePump pump, OutputCapture stdout, OutputCapture stderr)
    {
        // What the holder would have written later is lost: say so.
        if (pump.StdOutOpen) stdout.CutOff = true;
        if (pump.StdErrOpen) stderr.CutOff = true;
    }

    private readonly record struct Pipe(int Read, int Write);

    private static Pipe CreatePipe()
    {
        int* fds = stackalloc int[2];
        if (pipe2(fds, O_CLOEXEC) != 0)
            throw new IOException($"pipe2 failed: {ErrorText(Marshal.GetLastPInvokeError())}");
        return new Pipe(fds[0], fds[1]);
    }

    private static int Spawn(ProcessSpec spec, int stdinFd, int stdoutFd, int stderrFd)
    {
        var executable = ToolLocator.Find(spec.Argv[0])
            ?? throw SandboxErrors.ExecutableNotFound(spec.Argv[0]);

        // Its own process group, so a timeout or cancellation can signal the whole tree.
        using var spawn = new SpawnArguments(POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(spawn.Attributes, 0);
        if (stdinFd >= 0) posix_spawn_file_actions_adddup2(spawn.Actions, stdinFd, 0);
        else posix_spawn_file_actions_addopen(spawn.Actions, 0, spawn.Utf8("/dev/null"), O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(spawn.Actions, stdoutFd, 1);
        posix_spawn_file_actions_adddup2(spawn.Actions, stderrFd, 2);
        spawn.KeepOnlyStdio(spec.PassedDescriptors?.Ours);

        int pid;
        var error = posix_spawn(&pid, spawn.Utf8(executable), spawn.Actions, spawn.Attributes,
            spawn.Array(spec.Argv), spawn.Environment(spec.Environment));
        if (error != 0)
            throw SandboxErrors.SpawnFailed(executable, ErrorText(error));
        return pid;
    }

    /// <summary>
    /// The spawned process's group. Kill and reap are serialized so that a timer firing after the
    /// process was reaped can never signal a recycled pid.
    /// </summary>
    private sealed class ProcessGroup(int pid)
    {
        private readonly object _gate = new();
        private readonly List<int> _killedDescendants = new();
        private bool _reaped;

        public bool TimedOut { get; private set; }
        public bool Cancelled { get; private set; }

        public void Kill(bool timedOut)
        {
            lock (_gate)
            {
                if (_reaped) return;
                if (timedOut) TimedOut = true; else Cancelled = true;
                // A backend may start its own session or pid namespace (setsid, nspawn), out of
                // our process group, so its descendants are listed while they can still be found
                // through their parents and killed right after the group. Killing a pid namespace's
                // init ends the whole namespace. The group goes first so that the process we wait
                // for dies of the signal rather than exiting on its child's death.
                var descendants = ProcessTree.Descendants(pid);
                kill(-pid, SIGKILL);
                kill(pid, SIGKILL);
                foreach (var descendant in descendants) kill(descendant, SIGKILL);
                _killedDescendants.AddRange(descendants);
            }
        }

        /// <summary>Waits for the exit without reaping (WNOWAIT): while the zombie exists its pid cannot be reused.</summary>
        public void WaitForExit()
        {
            var info = stackalloc byte[SigInfoSize];
            while (waitid(P_PID, pid, info, WEXITED | WNOWAIT) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR) throw new IOException($"waitid({pid}) failed: {ErrorText(errno)}");
            }
        }

        /// <summary>
        /// Kills what is left of the process group after its leader exited (a background job still
        /// holding the output pipes). Safe: the unreaped leader keeps the group id from being reused.
        /// </summary>
        public void KillLeftovers()
        {
            lock (_gate)
            {
                if (!_reaped) kill(-pid, SIGKILL);
            }
        }

        /// <summary>Whether processes other than the exited leader are still alive in its group.</summary>
        public bool HasLeftovers() => ProcessGroupMembers.Any(pid, except: pid);

        /// <summary>Reaps the exited process under the lock, so Kill never signals a stranger.</summary>
        public (int Status, RUsage Usage) Reap()
        {
            int status;
            RUsage usage;
            int[] killed;
            lock (_gate)
            {
                while (wait4(pid, &status, 0, &usage) != pid)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno != EINTR) throw new IOException($"wait4({pid}) failed: {ErrorText(errno)}");
                }
                _reaped = true;
                killed = _killedDescendants.ToArray();
            }
            // Our child may be a wrapper (time, unshare) whose killed descendants are still dying:
            // a SIGKILLed systemd-nspawn that still holds its image lock would make the next
            // command in the sandbox fail as "busy". Return only when they have all exited.
            ProcessTree.WaitUntilExited(killed, TimeSpan.FromSeconds(10));
            return (status, usage);
        }
    }
}
