using System.Runtime.InteropServices;
using static Sandbox.Native.LibC;

namespace Sandbox.Storage;

/// <summary>
/// An exclusive advisory lock (flock) on a file, held across processes until disposed. Waiting polls
/// with LOCK_NB so that it can be cancelled; the kernel drops the lock if the holder dies.
/// </summary>
public sealed class FileLock : IDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);
    private readonly int _fd;

    private FileLock(int fd) => _fd = fd;

    public static FileLock Acquire(string path, CancellationToken cancellation = default)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        // A raw descriptor: .NET's FileStream takes flock locks of its own, which would collide.
        var fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0b110_100_100);
        if (fd < 0) throw new IOException($"open({path}) failed: {ErrorText(Marshal.GetLastPInvokeError())}");
        StoreLayout.HandOver(path);
        try
        {
            while (flock(fd, LOCK_EX | LOCK_NB) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno != EWOULDBLOCK && errno != EINTR)
                    throw new IOException($"flock({path}) failed: {ErrorText(errno)}");
                cancellation.WaitHandle.WaitOne(PollInterval);
                cancellation.ThrowIfCancellationRequested();
            }
            return new FileLock(fd);
        }
        catch
        {
            close(fd);
            throw;
        }
    }

    public void Dispose() => close(_fd); // closing the descriptor releases the flock
}
