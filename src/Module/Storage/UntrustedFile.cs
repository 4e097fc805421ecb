using Microsoft.Win32.SafeHandles;
using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// Opens a file that something we do not trust could have put there (a build, a sandbox): never
/// through a final link, never blocking on a FIFO, and only if it is a regular file.
/// </summary>
internal static class UntrustedFile
{
    /// <summary>
    /// The open file, or null unless <paramref name="path"/> names a regular file (not a link to one).
    /// Looked at before it is opened for reading (an O_PATH open runs no driver's open, which for a
    /// device node could have effects: a watchdog, a tape), then reopened through that descriptor.
    /// </summary>
    public static SafeFileHandle? OpenRegular(string path)
    {
        var pathFd = LibC.open(path, OpenFlags.O_PATH | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC, 0);
        if (pathFd < 0) return null;
        try
        {
            if (FileStatus.OfDescriptor(pathFd) is not { IsRegularFile: true }) return null;
            var fd = LibC.open($"/proc/self/fd/{pathFd}", OpenFlags.O_RDONLY | OpenFlags.O_NONBLOCK | OpenFlags.O_CLOEXEC, 0);
            if (fd < 0) return null;
            var handle = new SafeFileHandle(fd, ownsHandle: true);
            if (FileStatus.OfDescriptor(fd) is { IsRegularFile: true }) return handle;
            handle.Dispose();
            return null;
        }
        finally
        {
            LibC.close(pathFd);
        }
    }

    /// <summary>The whole content of a regular file of at most <paramref name="maxBytes"/>; null if it is not one, or larger.</summary>
    public static byte[]? ReadRegular(string path, long maxBytes)
    {
        using var file = OpenRegular(path);
        if (file is null) return null;
        using var stream = new FileStream(file, FileAccess.Read, bufferSize: 0);
        if (stream.Length > maxBytes) return null;
        var bytes = new byte[stream.Length];
        try { stream.ReadExactly(bytes); }
        catch (EndOfStreamException) { return null; } // shrank while read
        // A file still growing past its size when read is not what was checked: refuse it.
        return stream.ReadByte() < 0 ? bytes : null;
    }
}
