using System.Runtime.InteropServices;
using static Sandbox.Native.LibC;

namespace Sandbox.Processes;

/// <summary>
/// Moves a process's stdin, stdout and stderr in one poll(2) loop on a thread of its own
/// (<see cref="DedicatedThreads"/>, kept for the next command's pump). Blocking reads on
/// thread-pool threads starved under parallel load (32 commands at once) and output was dropped
/// after a fixed drain time; a dedicated thread is never starved, and nothing here gives up
/// on a stream by time alone: only <see cref="Abandon"/> does, and it marks the streams it cut.
/// A slow line consumer blocks this loop, so the pipe fills and the command waits: back-pressure.
/// </summary>
internal sealed unsafe partial class PipePump
{
    private const int ChunkBytes = 64 * 1024;
    private const short POLLIN = 0x001, POLLOUT = 0x004, POLLERR = 0x008, POLLHUP = 0x010, POLLNVAL = 0x020;
    private const int F_GETFL = 3, F_SETFL = 4, F_GETPIPE_SZ = 1032, O_NONBLOCK = Native.OpenFlags.O_NONBLOCK, EAGAIN = 11;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd { public int Fd; public short Events; public short Revents; }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int poll(PollFd* fds, nuint count, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint write(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int command, int argument);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    private readonly OutputCapture _stdout;
    private readonly OutputCapture _stderr;
    private readonly StreamingStdOut? _stdoutConsumer;
    private readonly byte[]? _input;
    private int _stdinFd, _stdoutFd, _stderrFd;
    private readonly int _wakeRead, _wakeWrite;
    private int _inputWritten;
    private volatile bool _abandon;
    private readonly ManualResetEventSlim _done = new();
    private Exception? _failure;

    /// <param name="stdoutConsumer">When given, stdout goes to it as it arrives instead of into <paramref name="stdout"/>.</param>
    public PipePump(int stdinFd, byte[]? input, int stdoutFd, OutputCapture stdout, int stderrFd, OutputCapture stderr,
        StreamingStdOut? stdoutConsumer = null)
    {
        (_stdinFd, _input, _stdoutFd, _stdout, _stderrFd, _stderr) = (stdinFd, input, stdoutFd, stdout, stderrFd, stderr);
        _stdoutConsumer = stdoutConsumer;
        int* fds = stackalloc int[2];
        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
            throw new IOException($"pipe2 failed: {ErrorText(Marshal.GetLastPInvokeError())}");
        (_wakeRead, _wakeWrite) = (fds[0], fds[1]);
        // stdin is written without blocking, so a command that never reads cannot hold this loop.
        if (_stdinFd >= 0) fcntl(_stdinFd, F_SETFL, fcntl(_stdinFd, F_GETFL, 0) | O_NONBLOCK);
    }

    public void Start() => DedicatedThreads.Start(Loop);

    /// <summary>Bytes read from stdout and stderr so far.</summary>
    public long BytesRead => Interlocked.Read(ref _bytesRead);

    private long _bytesRead;

    /// <summary>
    /// What the output pipes can hold unread right now (the command may have enlarged them with
    /// F_SETPIPE_SZ): once the process has ended, reading more than this means someone still writes.
    /// </summary>
    public long PipeCapacity()
    {
        long total = 0;
        foreach (var fd in new[] { Volatile.Read(ref _stdoutFd), Volatile.Read(ref _stderrFd) })
        {
            if (fd < 0) continue;
            var size = fcntl(fd, F_GETPIPE_SZ, 0);
            total += size > 0 ? size : 1024 * 1024; // unknown: the unprivileged maximum
        }
        return total;
    }

    /// <summary>stdout has not reached its end yet.</summary>
    public bool StdOutOpen => Volatile.Read(ref _stdoutFd) >= 0;

    /// <summary>stderr has not reached its end yet.</summary>
    public bool StdErrOpen => Volatile.Read(ref _stderrFd) >= 0;

    /// <summary>Waits until stdout and stderr reached their end (and stdin was written or refused).</summary>
    public bool WaitForEnd(TimeSpan timeout) => _done.Wait(timeout);

    /// <summary>
    /// True when the loop has been waiting in poll for at least <paramref name="window"/> with
    /// nothing to move: after the process ended, only a leftover process can be holding a pipe then.
    /// Time spent handing lines to a slow consumer never counts as idle.
    /// </summary>
    public bool IdleFor(TimeSpan window)
    {
        var since = Volatile.Read(ref _idleSince);
        return since != NotIdle && Environment.TickCount64 - since >= window.TotalMilliseconds;
    }

    private const long NotIdle = long.MinValue;
    private long _idleSince = NotIdle;

    /// <summary>Stops reading: the streams not at their end are marked cut off. Returns when the loop has ended.</summary>
    public void Abandon()
    {
        _abandon = true;
        byte one = 1;
        write(_wakeWrite, &one, 1);
        _done.Wait();
    }

    /// <summary>Rethrows a failure of the loop itself (not of the process).</summary>
    public void ThrowIfFailed()
    {
        if (_failure is not null) throw new IOException($"Reading the command's output failed: {_failure.Message}", _failure);
    }

    private void Loop()
    {
        var buffer = new byte[ChunkBytes];
        try
        {
            var fds = stackalloc PollFd[4];
            while (_stdoutFd >= 0 || _stderrFd >= 0 || _stdinFd >= 0)
            {
                var count = 0;
                fds[count++] = new PollFd { Fd = _wakeRead, Events = POLLIN };
                if (_stdinFd >= 0) fds[count++] = new PollFd { Fd = _stdinFd, Events = POLLOUT };
                if (_stdoutFd >= 0) fds[count++] = new PollFd { Fd = _stdoutFd, Events = POLLIN };
                if (_stderrFd >= 0) fds[count++] = new PollFd { Fd = _stderrFd, Events = POLLIN };
                Volatile.Write(ref _idleSince, Environment.TickCount64);
                var ready = poll(fds, (nuint)count, -1);
                Volatile.Write(ref _idleSince, NotIdle);
                if (ready < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EINTR) continue;
                    throw new IOException($"poll failed: {ErrorText(errno)}");
                }
                if (_abandon) break;
                for (var i = 1; i < count; i++)
                {
                    if (fds[i].Revents == 0) continue;
                    if (fds[i].Fd == _stdinFd) WriteInput(fds[i].Revents);
                    else if (fds[i].Fd == _stdoutFd) ReadOutput(ref _stdoutFd, _stdout, buffer, _stdoutConsumer);
                    else if (fds[i].Fd == _stderrFd) ReadOutput(ref _stderrFd, _stderr, buffer, null);
                }
            }
        }
        catch (Exception e)
        {
            _failure = e;
        }
        finally
        {
            if (_stdoutFd >= 0) { _stdout.CutOff = true; _stdout.Complete(); _stdoutConsumer?.Complete(cutOff: true); CloseFd(ref _stdoutFd); }
            if (_stderrFd >= 0) { _stderr.CutOff = true; _stderr.Complete(); CloseFd(ref _stderrFd); }
            CloseFd(ref _stdinFd);
            close(_wakeRead);
            close(_wakeWrite);
            _done.Set();
        }
    }

    private void WriteInput(short events)
    {
        if ((events & (POLLERR | POLLHUP | POLLNVAL)) != 0)
        {
            // The command closed its stdin (EPIPE): that is its choice, not our error.
            CloseFd(ref _stdinFd);
            return;
        }
        fixed (byte* data = _input)
        {
            while (_inputWritten < _input!.Length)
            {
                var written = write(_stdinFd, data + _inputWritten, (nuint)Math.Min(ChunkBytes * 4, _input.Length - _inputWritten));
                if (written < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EINTR) continue;
                    if (errno == EAGAIN) return; // the pipe is full: poll says when there is room
                    CloseFd(ref _stdinFd); // EPIPE and the like: the reader is gone
                    return;
                }
                _inputWritten += (int)written;
            }
        }
        CloseFd(ref _stdinFd); // all written: the command sees end of input
    }

    private void ReadOutput(ref int fd, OutputCapture capture, byte[] buffer, StreamingStdOut? consumer)
    {
        fixed (byte* data = buffer)
        {
            nint got;
            while ((got = read(fd, data, (nuint)buffer.Length)) < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR) throw new IOException($"read failed: {ErrorText(errno)}");
            }
            if (got == 0)
            {
                capture.Complete();
                consumer?.Complete();
                CloseFd(ref fd);
                return;
            }
            Interlocked.Add(ref _bytesRead, got);
            if (consumer is not null) consumer.Write(buffer.AsSpan(0, (int)got)); // blocks until taken: back-pressure
            else capture.Write(buffer.AsSpan(0, (int)got));
        }
    }

    private static void CloseFd(ref int fd)
    {
        if (fd < 0) return;
        close(fd);
        fd = -1;
    }
}
