using System.Runtime.InteropServices;

namespace Sandbox.Native;

/// <summary>
/// The calls a walk of a tree someone hostile controls is made of: every one works on a name (raw
/// bytes, never a path with a '/') inside a folder's descriptor, and none follows a link. Names are
/// NUL-terminated byte arrays, so names that are not UTF-8 reach the kernel unchanged.
/// </summary>
internal static unsafe partial class DirectoryCalls
{
    private const string Lib = "libc";

    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_REMOVEDIR = 0x200;
    private const int AT_EMPTY_PATH = 0x1000;
    private const uint STATX_BASIC_STATS = 0x7ff;

    /// <summary>A folder, opened for listing, never through a link, never blocking, closed on exec.</summary>
    public static readonly int OpenFolderFlags = OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY | OpenFlags.O_NOFOLLOW
                                                 | OpenFlags.O_NONBLOCK | OpenFlags.O_CLOEXEC;

    public const int EINTR = 4;
    public const int ENOENT = 2;
    public const int EPERM = 1;
    public const int EACCES = 13;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;
    public const int ELOOP = 40;
    public const int ENOTEMPTY = 39;
    public const int EEXIST = 17;

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int openat(int dirFd, byte* name, int flags, uint mode);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int statx(int dirFd, byte* name, int flags, uint mask, byte* buffer);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial nint getdents64(int fd, byte* buffer, nuint size);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int unlinkat(int dirFd, byte* name, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int fchownat(int dirFd, byte* name, int uid, int gid, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int close(int fd);

    /// <summary>Opens folder <paramref name="name"/> of <paramref name="dirFd"/> for listing; the fd or -errno (ELOOP/ENOTDIR when it is not a folder).</summary>
    public static int OpenFolder(int dirFd, byte[] name)
    {
        fixed (byte* p = name)
        {
            while (true)
            {
                var fd = openat(dirFd, p, OpenFolderFlags, 0);
                if (fd >= 0) return fd;
                var errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR) return -errno;
            }
        }
    }

    /// <summary>lstat of <paramref name="name"/> in <paramref name="dirFd"/>; null when it is gone.</summary>
    public static FileStatus? StatName(int dirFd, byte[] name) => StatName(dirFd, name, out _);

    /// <summary>lstat of <paramref name="name"/> in <paramref name="dirFd"/>; null, with the errno, when it fails.</summary>
    public static FileStatus? StatName(int dirFd, byte[] name, out int error)
    {
        FileStatus? status;
        fixed (byte* p = name) status = Stat(dirFd, p, AT_SYMLINK_NOFOLLOW);
        error = status is null ? Marshal.GetLastPInvokeError() : 0;
        return status;
    }

    /// <summary>fstat of an open descriptor.</summary>
    public static FileStatus? StatDescriptor(int fd)
    {
        byte empty = 0;
        return Stat(fd, &empty, AT_EMPTY_PATH);
    }

    private static FileStatus? Stat(int dirFd, byte* name, int flags)
    {
        var buffer = stackalloc byte[256];
        if (statx(dirFd, name, flags, STATX_BASIC_STATS, buffer) != 0) return null;
        // struct statx offsets (linux/stat.h), as FileStatus reads them.
        return new FileStatus(
            Mode: *(ushort*)(buffer + 28), Uid: *(uint*)(buffer + 20), Gid: *(uint*)(buffer + 24),
            Size: *(ulong*)(buffer + 40), Blocks: *(ulong*)(buffer + 48), LinkCount: *(uint*)(buffer + 16),
            DeviceMajor: *(uint*)(buffer + 136), DeviceMinor: *(uint*)(buffer + 140),
            RDevMajor: *(uint*)(buffer + 128), RDevMinor: *(uint*)(buffer + 132), Inode: *(ulong*)(buffer + 32));
    }

    /// <summary>
    /// Every name in the open folder <paramref name="fd"/> (not "." or ".."), each NUL-terminated;
    /// or -errno in <paramref name="error"/>. Read to the end at once, so the folder may change
    /// afterwards (a removal unlinks while it goes) without the listing skipping or repeating names.
    /// </summary>
    public static List<byte[]> ReadNames(int fd, out int error)
    {
        var names = new List<byte[]>();
        error = 0;
        const int size = 32 * 1024;
        var buffer = (byte*)NativeMemory.Alloc(size);
        try
        {
            while (true)
            {
                var n = getdents64(fd, buffer, size);
                if (n == 0) return names;
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EINTR) continue;
                    error = -errno;
                    return names;
                }
                // struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, char name[].
                for (nint offset = 0; offset < n;)
                {
                    var record = buffer + offset;
                    var length = *(ushort*)(record + 16);
                    var name = record + 19;
                    var nameLength = 0;
                    while (nameLength < length - 19 && name[nameLength] != 0) nameLength++;
                    offset += length;
                    if ((nameLength == 1 && name[0] == (byte)'.') || (nameLength == 2 && name[0] == (byte)'.' && name[1] == (byte)'.'))
                        continue;
                    var copy = new byte[nameLength + 1];
                    new ReadOnlySpan<byte>(name, nameLength).CopyTo(copy);
                    names.Add(copy);
                }
            }
        }
        finally { NativeMemory.Free(buffer); }
    }

    /// <summary>unlinkat; 0 or -errno.</summary>
    public static int Unlink(int dirFd, byte[] name, int flags)
    {
        fixed (byte* p = name) return unlinkat(dirFd, p, flags) == 0 ? 0 : -Marshal.GetLastPInvokeError();
    }

    /// <summary>Changes the owner of <paramref name="name"/> itself (a link, not its target); 0 or -errno.</summary>
    public static int ChangeOwner(int dirFd, byte[] name, int uid, int gid)
    {
        fixed (byte* p = name) return fchownat(dirFd, p, uid, gid, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -Marshal.GetLastPInvokeError();
    }

    /// <summary>
    /// Changes the owner of exactly the inode <paramref name="fd"/> holds (an O_PATH descriptor of a
    /// link gives the link itself), with no name looked up again; 0 or -errno.
    /// </summary>
    public static int ChangeOwnerOfHeld(int fd, int uid, int gid)
    {
        byte empty = 0;
        return fchownat(fd, &empty, uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -Marshal.GetLastPInvokeError();
    }

    /// <summary>A path or name as the NUL-terminated bytes the calls above take.</summary>
    public static byte[] Bytes(string text) => System.Text.Encoding.UTF8.GetBytes(text + "\0");

    /// <summary>A name as text (bytes that are not UTF-8 become U+FFFD, as .NET's own listing shows them).</summary>
    public static string Text(byte[] name) => System.Text.Encoding.UTF8.GetString(name, 0, name.Length - 1);
}
