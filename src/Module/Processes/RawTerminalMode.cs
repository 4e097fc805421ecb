using static Sandbox.Native.TerminalCalls;

namespace Sandbox.Processes;

/// <summary>
/// Puts the caller's terminal in raw mode while a shell's pty is relayed to it (every key, Ctrl-C
/// and Ctrl-Z included, goes to the sandbox's terminal, which does its own echo and line editing),
/// and puts back exactly the settings it found: on Dispose, and on process exit if the relay is torn
/// down without reaching its finally (SIGTERM to pwsh runs ProcessExit handlers, not other threads'
/// finally blocks).
/// </summary>
internal sealed unsafe class RawTerminalMode : IDisposable
{
    private static readonly object Gate = new();
    private static RawTerminalMode? s_active;
    private static bool s_exitHookInstalled;

    private readonly int _fd;
    private Termios _saved;
    private bool _restored;

    private RawTerminalMode(int fd, Termios saved)
    {
        _fd = fd;
        _saved = saved;
    }

    /// <summary>Raw mode on <paramref name="fd"/>, or null when it is not a terminal (nothing to change or restore).</summary>
    public static RawTerminalMode? Enter(int fd)
    {
        if (isatty(fd) != 1) return null;
        Termios saved;
        if (tcgetattr(fd, &saved) != 0) return null;
        var raw = saved;
        cfmakeraw(&raw);
        var mode = new RawTerminalMode(fd, saved);
        lock (Gate)
        {
            if (!s_exitHookInstalled)
            {
                AppDomain.CurrentDomain.ProcessExit += (_, _) => { lock (Gate) s_active?.Restore(); };
                s_exitHookInstalled = true;
            }
            s_active = mode;
        }
        // TCSADRAIN: output already written in the old mode is shown as it was meant to be.
        tcsetattr(fd, TCSADRAIN, &raw);
        return mode;
    }

    public void Dispose()
    {
        lock (Gate)
        {
            Restore();
            if (ReferenceEquals(s_active, this)) s_active = null;
        }
    }

    private void Restore()
    {
        if (_restored) return;
        _restored = true;
        fixed (Termios* saved = &_saved) tcsetattr(_fd, TCSADRAIN, saved);
    }
}
