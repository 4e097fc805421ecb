using System.Runtime.InteropServices;

namespace Sandbox.Native;

/// <summary>
/// openat2(2) and the *at calls that work relative to a folder's file descriptor: the way to touch a
/// path inside a tree someone hostile controls without ever leaving it. RESOLVE_IN_ROOT makes the
/// kernel treat the folder as "/" for every link on the way ("/.." stays there, absolute links
/// resolve inside it), so no path a sandbox planted can lead to a host file. openat2 has no glibc
/// wrapper on Debian 12 (glibc 2.36), hence syscall(2); its number is the same on x86_64 and aarch64.
/// </summary>
internal static unsafe partial class OpenAt2
{
    private const string Lib = "libc";
    private const long SYS_openat2 = 437;

    // The open flags under the names its callers use; the numbers are OpenFlags' (two differ by architecture).
    public const int O_RDONLY = OpenFlags.O_RDONLY;
    public const int O_WRONLY = OpenFlags.O_WRONLY;
    public const int O_CREAT = OpenFlags.O_CREAT;
    public const int O_EXCL = OpenFlags.O_EXCL;
    public const int O_NONBLOCK = OpenFlags.O_NONBLOCK;
    public static readonly int O_DIRECTORY = OpenFlags.O_DIRECTORY;
    public static readonly int O_NOFOLLOW = OpenFlags.O_NOFOLLOW;
    public const int O_CLOEXEC = OpenFlags.O_CLOEXEC;
    public const int O_PATH = OpenFlags.O_PATH;

    public const ulong RESOLVE_NO_MAGICLINKS = 0x02;
    public const ulong RESOLVE_NO_SYMLINKS = 0x04;
    public const ulong RESOLVE_BENEATH = 0x08;
    public const ulong RESOLVE_IN_ROOT = 0x10;

    public const int ENOENT = 2;
    public const int EEXIST = 17;
    public const int ENOTDIR = 20;
    public const int ELOOP = 40;
    public const int EXDEV = 18;
    public const int ENOSYS = 38;

    private const int AT_EMPTY_PATH = 0x1000;
    private const uint STATX_BASIC_STATS = 0x7ff;

    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall_openat2(long number, int dirFd, byte* path, OpenHow* how, nuint size);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mkdirat(int dirFd, string path, uint mode);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int symlinkat(string target, int dirFd, string path);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int openat(int dirFd, string path, int flags, uint mode);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int unlinkat(int dirFd, string path, int flags);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int renameat(int oldDirFd, string oldPath, int newDirFd, string newPath);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint readlinkat(int dirFd, string path, byte* buffer, nuint size);

    /// <summary>The target of the link <paramref name="name"/> in folder <paramref name="dirFd"/>, or null.</summary>
    public static string? LinkTarget(int dirFd, string name)
    {
        var buffer = stackalloc byte[4096];
        var n = readlinkat(dirFd, name, buffer, 4096);
        return n < 0 ? null : System.Text.Encoding.UTF8.GetString(buffer, (int)n);
    }

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fchmod(int fd, uint mode);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fchown(int fd, uint uid, uint gid);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint read(int fd, byte* buffer, nuint count);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint write(int fd, byte* buffer, nuint count);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int ftruncate(int fd, long length);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirFd, string path, int flags, uint mask, byte* buffer);

    /// <summary>openat2 relative to <paramref name="dirFd"/>; returns the fd or -errno.</summary>
    public static int Open(int dirFd, string path, int flags, ulong resolve, uint mode = 0)
    {
        var how = new OpenHow { Flags = (ulong)(flags | O_CLOEXEC), Mode = mode, Resolve = resolve };
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes)
        {
            while (true)
            {
                var fd = syscall_openat2(SYS_openat2, dirFd, p, &how, (nuint)sizeof(OpenHow));
                if (fd >= 0) return (int)fd;
                var errno = Marshal.GetLastPInvokeError();
                if (errno != 4 /* EINTR */ && errno != 11 /* EAGAIN: a rename raced the lookup */) return -errno;
            }
        }
    }

    /// <summary>
    /// Opens a folder (O_PATH) to serve as the root of later calls; -errno on failure. Its path is
    /// resolved as given, links on the way included: for folders whose path is the store's own. The
    /// store root itself is opened by Storage.StoreRootGuard.OpenRoot, which follows no link at its
    /// end and accepts only the folder the store guard checked.
    /// </summary>
    public static int OpenRoot(string folder) =>
        Open(-100 /* AT_FDCWD */, folder, O_PATH | O_DIRECTORY, 0);

    /// <summary>What the open file <paramref name="fd"/> is (fstat by statx AT_EMPTY_PATH).</summary>
    public static FileStatus? StatOf(int fd)
    {
        var buffer = stackalloc byte[256];
        if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, buffer) != 0) return null;
        // The same struct statx offsets as FileStatus.Of reads (linux/stat.h).
        return new FileStatus(
            Mode: *(ushort*)(buffer + 28), Uid: *(uint*)(buffer + 20), Gid: *(uint*)(buffer + 24),
            Size: *(ulong*)(buffer + 40), Blocks: *(ulong*)(buffer + 48), LinkCount: *(uint*)(buffer + 16),
            DeviceMajor: *(uint*)(buffer + 136), DeviceMinor: *(uint*)(buffer + 140),
            RDevMajor: *(uint*)(buffer + 128), RDevMinor: *(uint*)(buffer + 132), Inode: *(ulong*)(buffer + 32));
    }

    public static string ErrorText(int errno) => LibC.ErrorText(errno);
}
