using System.Runtime.InteropServices;
using Sandbox.Native;
using static Sandbox.Native.LibC;

namespace Sandbox.Storage;

/// <summary>
/// An exclusive advisory lock (flock) on a file, held across processes until disposed. Waiting polls
/// with LOCK_NB so that it can be cancelled; the kernel drops the lock if the holder dies.
/// A holder may delete the lock file (<see cref="DisposeAndDelete"/>), so that locks of names that
/// are gone do not pile up: a waiter that then gets the lock on the unlinked file notices that the
/// path no longer names the file it locked, and starts again on the new one.
/// </summary>
internal sealed class FileLock : IDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);
    private readonly int _fd;
    private readonly string _path;
    private bool _disposed;

    private FileLock(int fd, string path)
    {
        _fd = fd;
        _path = path;
    }

    public static FileLock Acquire(string path, CancellationToken cancellation = default) =>
        TryAcquire(path, wait: true, cancellation)!;

    /// <summary>The lock, or null at once when another process holds it (with <paramref name="wait"/> false).</summary>
    public static FileLock? TryAcquire(string path, bool wait, CancellationToken cancellation = default)
    {
        var folder = Path.GetDirectoryName(path)!;
        PrivateFiles.EnsureFolder(folder);
        while (true)
        {
            var fd = Open(path, out var created);
            if (fd < 0)
            {
                var failure = new IOException($"open({path}) failed: {ErrorText(-fd)}", -fd);
                if (StoreSpace.IsOutOfSpace(failure)) throw SandboxErrors.StoreFull(Path.GetDirectoryName(folder)!, failure);
                throw SandboxErrors.LockFailed(path, failure.Message, failure);
            }
            try
            {
                // Under sudo, only a lock file this call made goes to the caller, through its descriptor.
                if (created) SudoCaller.Current?.HandOverHeld(fd, path);
                while (flock(fd, LOCK_EX | LOCK_NB) != 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno != EWOULDBLOCK && errno != EINTR)
                        throw SandboxErrors.LockFailed(path, $"flock({path}) failed: {ErrorText(errno)}");
                    if (!wait)
                    {
                        close(fd);
                        return null;
                    }
                    cancellation.WaitHandle.WaitOne(PollInterval);
                    cancellation.ThrowIfCancellationRequested();
                }
            }
            catch
            {
                close(fd);
                throw;
            }
            if (StillNamesLockedFile(fd, path)) return new FileLock(fd, path);
            close(fd); // its holder deleted it meanwhile: lock the file that has the name now
        }
    }

    /// <summary>
    /// The lock file's descriptor (a raw one: .NET's FileStream takes flock locks of its own, which would
    /// collide), or -errno; <paramref name="created"/> when this call made the file. Never through a link
    /// at its name (O_NOFOLLOW): under sudo the store is the caller's, and a link planted there would
    /// have root create the file it points to (/etc/nologin). As root in a store the folder is reached
    /// beneath the checked store root without links too (a locks/ swapped for a link would have root
    /// create lock files anywhere), and a lock file that is already there must be a regular file with
    /// no other name.
    /// </summary>
    private static int Open(string path, out bool created)
    {
        created = false;
        const uint mode = 0b110_000_000;
        if (!UserIdentity.IsRoot || StoreEntry.StoreRootOf(path) is not { } root)
        {
            var plain = open(path, O_RDWR | O_CREAT | O_CLOEXEC | OpenFlags.O_NOFOLLOW, mode);
            if (plain < 0) return -Marshal.GetLastPInvokeError();
            // Outside a store (or rootless, where there is no caller to hand it to): as before.
            StoreLayout.HandOver(path);
            return plain;
        }
        static Exception Refuse(string where, string problem) => SandboxErrors.StoreEntryUnsafe(where, "lock", problem);
        using var entry = StoreEntry.OpenParentBeneath(path, root, Refuse) ?? throw Refuse(path, "its folder is not there.");
        var fd = OpenAt2.openat(entry.ParentFd, entry.Name, O_RDWR | O_CREAT | OpenAt2.O_EXCL | O_CLOEXEC | OpenFlags.O_NOFOLLOW, mode);
        if (fd >= 0)
        {
            created = true;
            return fd;
        }
        var errno = Marshal.GetLastPInvokeError();
        if (errno != OpenAt2.EEXIST) return -errno;
        fd = OpenAt2.openat(entry.ParentFd, entry.Name, O_RDWR | O_CLOEXEC | OpenFlags.O_NOFOLLOW, 0);
        if (fd < 0) return -Marshal.GetLastPInvokeError();
        if (FileStatus.OfDescriptor(fd) is { IsRegularFile: true, LinkCount: 1 }) return fd;
        close(fd);
        throw Refuse(path, "it is not a regular file with one name.");
    }

    private static bool StillNamesLockedFile(int fd, string path) =>
        FileStatus.OfDescriptor(fd) is { } locked && FileStatus.Of(path) is { } named
        && locked.Inode == named.Inode && (locked.DeviceMajor, locked.DeviceMinor) == (named.DeviceMajor, named.DeviceMinor);

    /// <summary>Deletes the lock file while still holding it, then releases it.</summary>
    public void DisposeAndDelete()
    {
        if (_disposed) return;
        try { File.Delete(_path); }
        finally { Dispose(); }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        close(_fd); // closing the descriptor releases the flock
    }
}
