using System.Runtime.InteropServices;
using Sandbox.Native;
using static Sandbox.Native.TerminalCalls;

namespace Sandbox.Processes;

/// <summary>
/// Copies bytes between the caller's stdin/stdout and a shell's pty master until the shell's
/// backend has exited (<see cref="ChildExited"/>) or the caller's side is gone, with poll() on the
/// master, stdin and a wake-up pipe (child exit, SIGWINCH). The master is non-blocking: keystrokes
/// the sandbox does not read are held back (stdin is then not read) instead of blocking the relay,
/// so its output keeps flowing. A window-size change of the caller's terminal is copied to the pty
/// on SIGWINCH and, since that signal arrives asynchronously, before relaying any keystroke.
/// </summary>
internal sealed unsafe class TerminalRelay : IDisposable
{
    private const int ChunkSize = 64 * 1024;
    /// <summary>Keystrokes held for the sandbox before stdin is no longer read.</summary>
    private const int MaxPending = 64 * 1024;

    private readonly PseudoTerminal _pty;
    private readonly int _input;
    private readonly int _output;
    private readonly bool _inputIsTerminal;
    private readonly int _wakeRead;
    private readonly int _wakeWrite;
    private volatile bool _childExited;
    private volatile bool _resized;

    public TerminalRelay(PseudoTerminal pty, int input, int output)
    {
        _pty = pty;
        _input = input;
        _output = output;
        _inputIsTerminal = isatty(input) == 1;
        var fds = stackalloc int[2];
        if (LibC.pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
            throw SandboxErrors.PseudoTerminalFailed("pipe2", LibC.ErrorText(Marshal.GetLastPInvokeError()));
        (_wakeRead, _wakeWrite) = (fds[0], fds[1]);
    }

    /// <summary>Called from any thread (the reaper) once the backend has exited: the relay drains and returns.</summary>
    public void ChildExited()
    {
        _childExited = true;
        Wake();
    }

    /// <summary>Called from the SIGWINCH handler: the caller's terminal changed size.</summary>
    public void Resized()
    {
        _resized = true;
        Wake();
    }

    /// <summary>
    /// Relays until the backend exits (true) or the caller's terminal is gone (false: the caller
    /// should hang up the pty so the sandbox's shell gets SIGHUP).
    /// </summary>
    public bool Run()
    {
        var pending = new List<byte>();
        var inputOpen = true;
        var masterOpen = true;
        var buffer = new byte[ChunkSize];
        var fds = stackalloc PollFd[3];
        fixed (byte* chunk = buffer)
        {
            while (true)
            {
                if (_resized)
                {
                    _resized = false;
                    SyncWindowSize();
                }
                if (_childExited)
                {
                    // Whatever the shell printed last is already in the master's buffer.
                    DrainMaster(chunk);
                    return true;
                }

                var count = 0;
                fds[count++] = new PollFd { Fd = _wakeRead, Events = POLLIN };
                // fd -1 is skipped by poll: a master that failed is left alone until the child exits.
                fds[count++] = new PollFd { Fd = masterOpen ? _pty.Master : -1, Events = (short)(POLLIN | (pending.Count > 0 ? POLLOUT : 0)) };
                var inputSlot = -1;
                if (inputOpen && pending.Count < MaxPending)
                {
                    inputSlot = count;
                    fds[count++] = new PollFd { Fd = _input, Events = POLLIN };
                }
                if (poll(fds, (nuint)count, -1) < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EINTR) continue;
                    throw SandboxErrors.PseudoTerminalFailed("poll", LibC.ErrorText(errno));
                }

                if (fds[0].Revents != 0) while (read(_wakeRead, chunk, ChunkSize) > 0) { }

                if ((fds[1].Revents & (POLLIN | POLLHUP | POLLERR)) != 0)
                {
                    var n = read(_pty.Master, chunk, ChunkSize);
                    if (n > 0 && !WriteAll(_output, chunk, (int)n)) return false;
                    // We hold the slave open ourselves, so EIO (no slave left) cannot last; never spin on it.
                    if (n <= 0 && Marshal.GetLastPInvokeError() is not (EINTR or EAGAIN)) masterOpen = false;
                }
                if ((fds[1].Revents & POLLOUT) != 0 && pending.Count > 0) FlushPending(pending);
                if (!masterOpen) pending.Clear();

                if (inputSlot >= 0 && fds[inputSlot].Revents != 0)
                {
                    var n = read(_input, chunk, ChunkSize);
                    if (n > 0)
                    {
                        // The kernel changed the size before the keys typed after it arrived, while
                        // SIGWINCH reaches us asynchronously: check first, so a command typed after
                        // a resize always sees the new size.
                        SyncWindowSize();
                        for (var i = 0; i < n; i++) pending.Add(chunk[i]);
                        FlushPending(pending);
                    }
                    else if (n == 0 || Marshal.GetLastPInvokeError() is not (EINTR or EAGAIN))
                    {
                        // A terminal that reads EOF or EIO has hung up; other input has just ended.
                        if (_inputIsTerminal) return false;
                        inputOpen = false;
                    }
                }
            }
        }
    }

    private void SyncWindowSize() => _pty.SyncWindowSize(_inputIsTerminal ? _input : _output);

    private void FlushPending(List<byte> pending)
    {
        var bytes = pending.ToArray();
        fixed (byte* data = bytes)
        {
            var n = write(_pty.Master, data, (nuint)bytes.Length);
            if (n > 0) pending.RemoveRange(0, (int)n);
        }
    }

    private void DrainMaster(byte* chunk)
    {
        nint n;
        while ((n = read(_pty.Master, chunk, ChunkSize)) > 0)
            if (!WriteAll(_output, chunk, (int)n)) return;
    }

    /// <summary>Writes everything to the caller's output, waiting while it is full; false when it is gone.</summary>
    private static bool WriteAll(int fd, byte* data, int length)
    {
        while (length > 0)
        {
            var n = write(fd, data, (nuint)length);
            if (n > 0)
            {
                data += n;
                length -= (int)n;
                continue;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR) continue;
            if (errno != EAGAIN) return false;
            var waitFor = new PollFd { Fd = fd, Events = POLLOUT };
            poll(&waitFor, 1, -1);
        }
        return true;
    }

    private void Wake()
    {
        byte one = 1;
        write(_wakeWrite, &one, 1);
    }

    public void Dispose()
    {
        LibC.close(_wakeRead);
        LibC.close(_wakeWrite);
    }
}
