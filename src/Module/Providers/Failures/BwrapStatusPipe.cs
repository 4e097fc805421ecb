using System.Runtime.InteropServices;
using System.Text;

namespace Sandbox.Providers.Failures;

/// <summary>
/// The pipe bwrap writes its status to (<c>--json-status-fd</c>): evidence of whether the command
/// itself ran that the command cannot forge or suppress. bwrap 0.8 writes <c>{"child-pid": …}</c>
/// before its setup and <c>{"exit-code": N}</c> only once the command it exec'd has exited; when
/// its setup or the exec of the command fails it exits 1 without an exit-code document (measured:
/// a missing bind source, a missing command). The write end is created close-on-exec, passed to
/// bwrap alone (spawned with it among its passed descriptors, Processes.PassedDescriptors, at the
/// number its argument names) and closed by bwrap before it execs the command,
/// so nothing in the sandbox holds it. Read after bwrap exited, without blocking: a few bytes.
/// </summary>
internal sealed unsafe class BwrapStatusPipe : IDisposable
{
    private const int O_CLOEXEC = Native.OpenFlags.O_CLOEXEC;
    private const int O_NONBLOCK = Native.OpenFlags.O_NONBLOCK;
    private const int F_SETFL = 4;

    /// <summary>More than bwrap's two documents; a pipe holds 64 KiB, so bwrap never blocks on it.</summary>
    private const int MaxStatusBytes = 4096;

    private int _read = -1;
    private int _write = -1;

    public BwrapStatusPipe()
    {
        int* fds = stackalloc int[2];
        if (pipe2(fds, O_CLOEXEC) != 0)
            throw new IOException($"pipe2 failed: errno {Marshal.GetLastPInvokeError()}");
        // Its number here does not matter: the spawn places it above what the launch chain closes (PassedDescriptors).
        (_read, _write) = (fds[0], fds[1]);
    }

    /// <summary>
    /// bwrap's arguments that make it report to this pipe: the write end added to <paramref name="passed"/>,
    /// named by the number bwrap is spawned holding it under.
    /// </summary>
    public string[] ArgumentsPassing(Processes.PassedDescriptors passed) =>
        new[] { "--json-status-fd", passed.Pass(_write).ToString(System.Globalization.CultureInfo.InvariantCulture) };

    /// <summary>
    /// Whether bwrap reported the command's exit, i.e. the command was exec'd and ran. Call once
    /// bwrap has exited: our write end is closed first, and what bwrap wrote is still in the pipe.
    /// </summary>
    public bool CommandExited()
    {
        CloseWriteEnd();
        return ReportsExit(ReadAvailable());
    }

    /// <summary>Whether bwrap's status documents include the command's exit code.</summary>
    internal static bool ReportsExit(string status) => status.Contains("\"exit-code\"", StringComparison.Ordinal);

    private string ReadAvailable()
    {
        fcntl(_read, F_SETFL, O_NONBLOCK);
        var buffer = new byte[MaxStatusBytes];
        var length = 0;
        fixed (byte* start = buffer)
        {
            while (length < buffer.Length)
            {
                var count = read(_read, start + length, buffer.Length - length);
                if (count <= 0) break; // EOF, or EAGAIN: nothing more was written
                length += (int)count;
            }
        }
        return Encoding.UTF8.GetString(buffer, 0, length);
    }

    private void CloseWriteEnd()
    {
        if (_write >= 0) close(_write);
        _write = -1;
    }

    public void Dispose()
    {
        CloseWriteEnd();
        if (_read >= 0) close(_read);
        _read = -1;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int pipe2(int* fds, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int fcntl(int fd, int cmd, int arg);

    [DllImport("libc", SetLastError = true)]
    private static extern nint read(int fd, byte* buffer, nint count);

    [DllImport("libc", SetLastError = true)]
    private static extern int close(int fd);
}
