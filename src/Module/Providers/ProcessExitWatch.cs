using System.Runtime.InteropServices;
using Sandbox.Native;

namespace Sandbox.Providers;

/// <summary>
/// Waits for one process to exit through a pidfd, which the kernel makes readable the moment the
/// process dies (a zombie has exited; its reaping is its parent's business). No polling of /proc,
/// no sleep granularity, and no confusion with a later process that reuses the pid: the pidfd is
/// taken while the identity (pid and start time) is checked.
/// </summary>
internal sealed partial class ProcessExitWatch : IDisposable
{
    private const short POLLIN = 0x001;
    private readonly int _pidfd;

    private ProcessExitWatch(int pidfd) => _pidfd = pidfd;

    /// <summary>A watch on that very process, or null if it is gone (or never was ours to see).</summary>
    public static ProcessExitWatch? Watch(ProcessIdentity process)
    {
        var pidfd = pidfd_open(process.Pid, 0);
        if (pidfd < 0) return null;
        if (process.IsAlive) return new ProcessExitWatch(pidfd);
        LibC.close(pidfd);
        return null;
    }

    /// <summary>True once the process has exited; false if it still runs after <paramref name="limit"/>.</summary>
    public bool Wait(TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var left = (int)Math.Max(0, Math.Ceiling((deadline - DateTime.UtcNow).TotalMilliseconds));
            var fd = new PollFd { Fd = _pidfd, Events = POLLIN };
            var ready = poll(ref fd, 1, left);
            if (ready > 0) return true;
            if (ready == 0) return false;
            if (Marshal.GetLastPInvokeError() != 4 /* EINTR */) return false;
        }
    }

    public void Dispose() => LibC.close(_pidfd);

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int pidfd_open(int pid, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int poll(ref PollFd fds, nuint count, int timeout);
}
