using System.Runtime.InteropServices;
using static Sandbox.Native.TerminalCalls;

namespace Sandbox.Processes;

/// <summary>
/// A fresh pseudo-terminal pair for one interactive shell. The shell gets the slave as its
/// controlling terminal, so whatever it does to "its" terminal (TIOCSTI keystroke injection,
/// tcsetpgrp, modes) stays on this pty; only the engine's relay holds the master. The slave starts
/// with the kernel's sane defaults (echo, line editing, signals), whatever the caller's terminal was
/// left in (.NET leaves it without echo after Console.ReadKey).
/// </summary>
internal sealed unsafe class PseudoTerminal : IDisposable
{
    private PseudoTerminal(int master, string slavePath)
    {
        Master = master;
        SlavePath = slavePath;
    }

    /// <summary>The master side, non-blocking and close-on-exec: the sandbox never inherits it.</summary>
    public int Master { get; private set; }

    /// <summary>/dev/pts/N, opened by the child after setsid so that it becomes its controlling terminal.</summary>
    public string SlavePath { get; }

    public static PseudoTerminal Open()
    {
        var master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0) throw Failure("posix_openpt", Marshal.GetLastPInvokeError());
        try
        {
            if (grantpt(master) != 0) throw Failure("grantpt", Marshal.GetLastPInvokeError());
            if (unlockpt(master) != 0) throw Failure("unlockpt", Marshal.GetLastPInvokeError());
            var name = stackalloc byte[256];
            var error = ptsname_r(master, name, 256);
            if (error != 0) throw Failure("ptsname_r", error);
            var flags = fcntl(master, F_GETFL, 0);
            if (flags < 0 || fcntl(master, F_SETFL, flags | O_NONBLOCK) != 0) throw Failure("fcntl", Marshal.GetLastPInvokeError());
            return new PseudoTerminal(master, Marshal.PtrToStringUTF8((nint)name)!);
        }
        catch
        {
            Native.LibC.close(master);
            throw;
        }
    }

    private WinSize _size;

    /// <summary>
    /// Gives the pty the window size of <paramref name="terminalFd"/> if that is a terminal and the
    /// size changed since the last call. Setting it on the master makes the kernel send SIGWINCH
    /// to the pty's foreground group, so it is not set again for nothing.
    /// </summary>
    public void SyncWindowSize(int terminalFd)
    {
        WinSize size;
        if (ioctl(terminalFd, TIOCGWINSZ, &size) != 0 || size.Rows == 0 || size.Columns == 0) return;
        if (size.Rows == _size.Rows && size.Columns == _size.Columns && size.XPixels == _size.XPixels && size.YPixels == _size.YPixels) return;
        if (ioctl(Master, TIOCSWINSZ, &size) == 0) _size = size;
    }

    public void Dispose()
    {
        if (Master < 0) return;
        // Closing the master hangs up the slave: anything of the sandbox still on it gets SIGHUP.
        Native.LibC.close(Master);
        Master = -1;
    }

    private static SandboxException Failure(string call, int errno) =>
        SandboxErrors.PseudoTerminalFailed(call, Native.LibC.ErrorText(errno));
}
