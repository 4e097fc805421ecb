using System.Globalization;
using Sandbox.Native;
using Sandbox.Processes;

namespace Sandbox.Providers;

/// <summary>
/// The fakeroot daemon of one FakeChroot sandbox: it remembers the owners and modes the sandbox's
/// commands set (a chown in one command is seen by the next). It runs detached for the sandbox's
/// lifetime, saves its table to <c>fakeroot.db</c> when stopped and loads it when (re)started, and is
/// killed when the sandbox is removed, so it never outlives the sandbox.
/// </summary>
internal sealed class FakedDaemon
{
    private FakedDaemon(string key, ProcessIdentity process)
    {
        Key = key;
        Process = process;
    }

    /// <summary>The FAKEROOTKEY that connects libfakeroot to this daemon.</summary>
    public string Key { get; }
    public ProcessIdentity Process { get; }

    internal static string Database(SandboxInfo sandbox) => Path.Combine(sandbox.StatePath, "fakeroot.db");
    private static string Announcement(SandboxInfo sandbox) => Path.Combine(sandbox.StatePath, "faked.out");

    /// <summary>The sandbox's running daemon, started (with its saved table) if it is not running.</summary>
    public static FakedDaemon Ensure(SandboxInfo sandbox, IEngineLog log) => Running(sandbox) ?? Start(sandbox, log);

    /// <summary>The daemon its announcement names, if that very process (same start time) still runs.</summary>
    public static FakedDaemon? Running(SandboxInfo sandbox)
    {
        var startFile = Announcement(sandbox) + ".start";
        if (ReadAnnouncement(sandbox) is not { } daemon || !File.Exists(startFile)) return null;
        return File.ReadAllText(startFile) == daemon.Process.StartTicks.ToString(CultureInfo.InvariantCulture) ? daemon : null;
    }

    /// <summary>faked prints "KEY:PID" when it is ready; null until then, or if that pid is gone.</summary>
    private static FakedDaemon? ReadAnnouncement(SandboxInfo sandbox)
    {
        var announcement = Announcement(sandbox);
        if (!File.Exists(announcement)) return null;
        var parts = File.ReadAllText(announcement).Trim().Split(':');
        if (parts.Length != 2 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) return null;
        return ProcessIdentity.Of(pid) is { } identity ? new FakedDaemon(parts[0], identity) : null;
    }

    /// <summary>
    /// Sends SIGTERM (faked then removes its SysV message queues and semaphore and saves its table)
    /// and waits until it has exited, SIGKILLing it after 5 s: when removal returns, nothing of the
    /// sandbox runs, and faked no longer writes into the state folder.
    /// Exited means dead, not reaped: faked was detached, so its reaper is init, which may take
    /// seconds to come (1.5 s on a machine whose PID 1 is not systemd: most of what Remove-Sandbox
    /// took when this waited for /proc/PID to vanish), so the wait is on a pidfd, which the kernel
    /// wakes at death.
    /// </summary>
    public static void Stop(SandboxInfo sandbox)
    {
        if (Running(sandbox) is not { } daemon) return;
        using var exit = ProcessExitWatch.Watch(daemon.Process);
        if (exit is null || !daemon.Process.Signal(LibC.SIGTERM)) return; // gone already
        if (!exit.Wait(TimeSpan.FromSeconds(5))) daemon.Process.Signal(LibC.SIGKILL);
    }

    /// <summary>How long a save may take: a whole Debian's table saves in well under a second.</summary>
    internal static readonly TimeSpan SaveTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Has the sandbox's running daemon write its table to fakeroot.db now, without stopping it
    /// (background processes of the sandbox keep their faked), and returns the file. A daemon that
    /// is not running saved its table when it stopped.
    /// <para>faked takes requests from one queue in order, but saves in its SIGUSR1 handler the
    /// moment the signal arrives, between two requests. libfakeroot sends a chown, chmod or mknod
    /// without waiting for an answer, so one a command made just before it ended may still be
    /// queued then, and a save at the signal alone would miss it (a chain of FakeChroot derives
    /// once lost a parent's chown this way). So one request is answered before the signal (every
    /// earlier one has been applied) and one after it (the handler ran before faked took it).</para>
    /// <para>faked is the user's process like the sandbox's own, which can stop it (SIGSTOP) or make
    /// its save block (a FIFO in the file's place), and libfakeroot waits for its answer without
    /// end: both waits together are bounded by <paramref name="timeout"/> (<see cref="SaveTimeout"/>),
    /// then the request is killed and the commit refused.</para>
    /// </summary>
    public static string SaveTable(SandboxInfo sandbox, IEngineLog log, CancellationToken cancellation = default, TimeSpan? timeout = null)
    {
        const int SIGUSR1 = 10;
        if (Running(sandbox) is { } daemon)
        {
            var limit = timeout ?? SaveTimeout;
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            deadline.CancelAfter(limit);
            WaitForAnswer(sandbox, daemon, log, limit, deadline.Token, cancellation);
            if (daemon.Process.Signal(SIGUSR1)) WaitForAnswer(sandbox, daemon, log, limit, deadline.Token, cancellation);
        }
        return Database(sandbox);
    }

    /// <summary>One request to faked (a stat of "/" through libfakeroot), returned once faked answered it.</summary>
    private static void WaitForAnswer(SandboxInfo sandbox, FakedDaemon daemon, IEngineLog log, TimeSpan limit,
        CancellationToken deadline, CancellationToken cancellation)
    {
        var answered = HostCommand.Run(log, new[] { ToolLocator.Require("stat", "coreutils"), "-c", "%u", "/" },
            cancellation: deadline,
            extraEnvironment: new Dictionary<string, string>
            {
                ["LD_LIBRARY_PATH"] = FakeChrootEnvironment.FakerootLibraries,
                ["LD_PRELOAD"] = "libfakeroot-sysv.so",
                ["FAKEROOTKEY"] = daemon.Key,
            });
        cancellation.ThrowIfCancellationRequested();
        if (answered.Cancelled) throw SandboxErrors.CommitOwnersSaveTimedOut(sandbox.Name, (int)Math.Ceiling(limit.TotalSeconds));
        if (answered.ExitCode != 0 || answered.StdOut.Trim() != "0")
            throw SandboxErrors.CommitOwnersUnreadable(sandbox.Name, "faked did not answer around saving its table: " + answered.StdErr.Trim());
    }

    private static FakedDaemon Start(SandboxInfo sandbox, IEngineLog log)
    {
        var database = Database(sandbox);
        var announcement = Announcement(sandbox);
        File.Delete(announcement);
        if (!File.Exists(database)) File.WriteAllText(database, "");
        // setsid --fork detaches it from our process group (a command's timeout must not kill it);
        // --foreground keeps it the process we recorded instead of a forked grandchild.
        var argv = new[]
        {
            ToolLocator.Require("setsid", "util-linux"), "--fork", ToolLocator.Require("sh", "dash"), "-c",
            "exec \"$1\" --foreground --load --save-file \"$2\" <\"$2\" >\"$3\" 2>/dev/null", "sandbox-faked",
            ToolLocator.Require("faked-sysv", "fakeroot"), database, announcement,
        };
        var started = HostCommand.Run(log, argv);
        if (started.ExitCode != 0) throw SandboxErrors.SetupFailed("FakeChroot", sandbox.Name, "faked did not start: " + started.StdErr);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (ReadAnnouncement(sandbox) is { } daemon)
            {
                File.WriteAllText(announcement + ".start", daemon.Process.StartTicks.ToString(CultureInfo.InvariantCulture));
                return daemon;
            }
            Thread.Sleep(10);
        }
        throw SandboxErrors.SetupFailed("FakeChroot", sandbox.Name, "faked did not announce its key within 10 s.");
    }
}
