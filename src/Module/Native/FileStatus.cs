using System.Runtime.InteropServices;

namespace Sandbox.Native;

/// <summary>
/// lstat-like facts about a path that .NET does not expose (owner, file type, device numbers, link
/// count), read with statx because its struct layout is the same on every architecture.
/// Never follows a final symbolic link.
/// </summary>
internal readonly record struct FileStatus(
    uint Mode, uint Uid, uint Gid, ulong Size, ulong Blocks, uint LinkCount,
    uint DeviceMajor, uint DeviceMinor, uint RDevMajor, uint RDevMinor, ulong Inode)
{
    private const uint S_IFMT = 0xF000;
    private const uint S_IFDIR = 0x4000;
    private const uint S_IFCHR = 0x2000;
    private const uint S_IFLNK = 0xA000;
    private const uint S_IFREG = 0x8000;

    public bool IsDirectory => (Mode & S_IFMT) == S_IFDIR;
    public bool IsSymbolicLink => (Mode & S_IFMT) == S_IFLNK;
    public bool IsRegularFile => (Mode & S_IFMT) == S_IFREG;

    /// <summary>overlayfs marks a deleted lower file with a 0:0 character device in the upper layer.</summary>
    public bool IsWhiteout => (Mode & S_IFMT) == S_IFCHR && RDevMajor == 0 && RDevMinor == 0;

    public uint Permissions => Mode & 0xFFF;

    public static FileStatus? Of(string path) => StatX.Read(path);

    /// <summary>The facts of an open file descriptor (fstat).</summary>
    public static FileStatus? OfDescriptor(int fd) => StatX.Read(fd);
}

internal static unsafe partial class StatX
{
    private const int AT_FDCWD = -100;
    private const int AT_SYMLINK_NOFOLLOW = 0x100;
    private const int AT_EMPTY_PATH = 0x1000;
    private const uint STATX_BASIC_STATS = 0x7ff;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirFd, string path, int flags, uint mask, byte* buffer);

    public static FileStatus? Read(string path) => Read(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW);

    public static FileStatus? Read(int fd) => Read(fd, "", AT_EMPTY_PATH);

    private static FileStatus? Read(int dirFd, string path, int flags)
    {
        var buffer = stackalloc byte[256];
        if (statx(dirFd, path, flags, STATX_BASIC_STATS, buffer) != 0) return null;
        // struct statx offsets (linux/stat.h): nlink 16, uid 20, gid 24, mode 28 (u16), ino 32,
        // size 40, blocks 48, rdev_major 128, rdev_minor 132, dev_major 136, dev_minor 140.
        return new FileStatus(
            Mode: *(ushort*)(buffer + 28),
            Uid: *(uint*)(buffer + 20),
            Gid: *(uint*)(buffer + 24),
            Size: *(ulong*)(buffer + 40),
            Blocks: *(ulong*)(buffer + 48),
            LinkCount: *(uint*)(buffer + 16),
            DeviceMajor: *(uint*)(buffer + 136),
            DeviceMinor: *(uint*)(buffer + 140),
            RDevMajor: *(uint*)(buffer + 128),
            RDevMinor: *(uint*)(buffer + 132),
            Inode: *(ulong*)(buffer + 32));
    }
}
