using System.Runtime.InteropServices;
using Sandbox.Native;
using static Sandbox.Native.LibC;
using static Sandbox.Native.TerminalCalls;

namespace Sandbox.Processes;

/// <summary>
/// Runs an interactive backend (bwrap, systemd-nspawn, nsenter, fakechroot with a shell) on a
/// pseudo-terminal of its own, relayed to the caller's terminal, and returns its exit code (128 +
/// signal number when a signal ended it, as shells report it).
/// <para>
/// Why not the caller's terminal itself: a shell sharing it can push keystrokes into it (TIOCSTI)
/// that the host's shell runs after the sandbox ends, and it takes the terminal's foreground
/// process group, so pwsh was left stopped in the background (SIGTTIN) or got EIO reading it.
/// Here the backend is a session leader (posix_spawn with POSIX_SPAWN_SETSID) that opens the pty
/// slave as its stdin, which makes that slave its controlling terminal; TIOCSTI from inside can only
/// reach the sandbox's own pty. The caller's terminal is in raw mode while relaying and restored
/// after, its window size follows SIGWINCH.
/// </para>
/// <para>
/// When stdin is not a terminal (commands piped in, a script), the shell reads stdin as it is and
/// ends at its end, as `sh &lt; file` does: a pty would turn the pipe's end into a Ctrl-D the shell
/// may never see as end-of-file (a shell with line editing switches the pty out of canonical mode).
/// It is still a session leader, but with no controlling terminal at all, so TIOCSTI (which needs
/// the caller's controlling terminal) fails even on a stdout that is a terminal.
/// </para>
/// </summary>
internal static unsafe class InteractiveProcessRunner
{
    /// <summary>How long a hung-up backend gets to exit on its SIGHUP before it is killed.</summary>
    private static readonly TimeSpan HangUpGrace = TimeSpan.FromSeconds(10);

    private const int StdIn = 0;
    private const int StdOut = 1;

    /// <summary>Whether the shell will get a pty: only when our stdin is a terminal.</summary>
    public static bool StdInIsTerminal => isatty(StdIn) == 1;

    /// <param name="passed">Descriptors of ours the backend is spawned holding (see <see cref="PassedDescriptors"/>).</param>
    public static int Run(IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> environment, PassedDescriptors? passed = null)
    {
        if (argv.Count == 0) throw SandboxErrors.EmptyCommand();
        var executable = ToolLocator.Find(argv[0]) ?? throw SandboxErrors.ShellNotStarted(argv[0], "not found on this host");
        if (!StdInIsTerminal) return ExitCode(Reap(Spawn(executable, argv, environment, slavePath: null, passed)));

        using var pty = PseudoTerminal.Open();
        // Held open by us for the whole relay, so the master never reads EOF/EIO before the child has
        // opened its end, nor while a sandbox program briefly has none open.
        var slave = open(pty.SlavePath, TerminalCalls.O_RDWR | O_NOCTTY | TerminalCalls.O_CLOEXEC, 0);
        if (slave < 0) throw SandboxErrors.PseudoTerminalFailed("open " + pty.SlavePath, ErrorText(Marshal.GetLastPInvokeError()));
        try
        {
            pty.SyncWindowSize(StdIn);
            using var relay = new TerminalRelay(pty, StdIn, StdOut);
            using var raw = RawTerminalMode.Enter(StdIn);
            var pid = Spawn(executable, argv, environment, pty.SlavePath, passed);

            var status = 0;
            var reaper = new Thread(() =>
            {
                status = Reap(pid);
                relay.ChildExited();
            }) { IsBackground = true, Name = "sandbox shell reaper" };
            reaper.Start();

            bool exited;
            try
            {
                using (PosixSignalRegistration.Create(PosixSignal.SIGWINCH, _ => relay.Resized()))
                    exited = relay.Run();
            }
            catch
            {
                // Never leave the backend running, nor the reaper writing to the relay's closed wake-up pipe.
                kill(pid, SIGKILL);
                reaper.Join();
                throw;
            }
            if (!exited)
            {
                // The caller's terminal is gone: hang up the shell's terminal (SIGHUP to its session).
                pty.Dispose();
                if (!reaper.Join(HangUpGrace)) kill(pid, SIGKILL);
            }
            reaper.Join();
            return ExitCode(status);
        }
        finally
        {
            close(slave);
        }
    }

    private static int ExitCode(int status) => (status & 0x7f) != 0 ? 128 + (status & 0x7f) : (status >> 8) & 0xff;

    private static int Reap(int pid)
    {
        int status;
        while (wait4(pid, &status, 0, null) != pid)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != LibC.EINTR) return 0xff << 8;
        }
        return status;
    }

    /// <summary>
    /// posix_spawn: setsid first (glibc runs it before the file actions), then open the slave as
    /// fd 0 without O_NOCTTY, which makes it the new session's controlling terminal, and dup it to
    /// 1 and 2; without a slave, stdio is inherited. Signals default and unblocked, as in
    /// NativeProcessRunner (.NET ignores SIGPIPE).
    /// </summary>
    private static int Spawn(string executable, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> environment, string? slavePath,
        PassedDescriptors? passed)
    {
        using var spawn = new SpawnArguments(POSIX_SPAWN_SETSID);
        if (slavePath is not null)
        {
            posix_spawn_file_actions_addopen(spawn.Actions, 0, spawn.Utf8(slavePath), TerminalCalls.O_RDWR, 0);
            posix_spawn_file_actions_adddup2(spawn.Actions, 0, 1);
            posix_spawn_file_actions_adddup2(spawn.Actions, 0, 2);
        }
        spawn.KeepOnlyStdio(passed?.Ours);

        int pid;
        var error = posix_spawn(&pid, spawn.Utf8(executable), spawn.Actions, spawn.Attributes,
            spawn.Array(argv), spawn.Environment(environment));
        if (error != 0) throw SandboxErrors.ShellNotStarted(executable, ErrorText(error));
        return pid;
    }
}
