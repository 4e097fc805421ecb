using System.Runtime.InteropServices;

namespace Sandbox.Native;

/// <summary>
/// The libc calls behind an interactive shell's own pseudo-terminal: opening a pty pair, terminal
/// modes (termios), window sizes, and the poll/read/write of the relay. Linux/glibc layouts: termios
/// is 60 bytes (an over-allocated opaque buffer here), winsize four unsigned shorts, pollfd 8 bytes.
/// </summary>
internal static unsafe partial class TerminalCalls
{
    private const string Lib = "libc";

    public const int O_RDWR = OpenFlags.O_RDWR;
    public const int O_NOCTTY = OpenFlags.O_NOCTTY;
    public const int O_NONBLOCK = OpenFlags.O_NONBLOCK;
    public const int O_CLOEXEC = OpenFlags.O_CLOEXEC;
    public const int F_GETFL = 3;
    public const int F_SETFL = 4;

    public const int EINTR = 4;
    public const int EIO = 5;
    public const int EAGAIN = 11;

    public const short POLLIN = 0x001;
    public const short POLLOUT = 0x004;
    public const short POLLERR = 0x008;
    public const short POLLHUP = 0x010;
    public const short POLLNVAL = 0x020;

    public const ulong TIOCGWINSZ = 0x5413;
    public const ulong TIOCSWINSZ = 0x5414;
    public const int TCSADRAIN = 1;

    /// <summary>glibc's posix_spawn flag (2.26+): the child calls setsid() before its file actions run.</summary>
    public const short POSIX_SPAWN_SETSID = 0x80;

    public const int TermiosSize = 256;

    [StructLayout(LayoutKind.Sequential)]
    public struct Termios
    {
        public fixed byte Bytes[TermiosSize];
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct WinSize
    {
        public ushort Rows;
        public ushort Columns;
        public ushort XPixels;
        public ushort YPixels;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int posix_openpt(int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int grantpt(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int unlockpt(int fd);

    [LibraryImport(Lib)]
    public static partial int ptsname_r(int fd, byte* buffer, nuint length);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int isatty(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int tcgetattr(int fd, Termios* termios);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int tcsetattr(int fd, int when, Termios* termios);

    [LibraryImport(Lib)]
    public static partial void cfmakeraw(Termios* termios);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int ioctl(int fd, ulong request, void* argument);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fcntl(int fd, int command, int argument);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint read(int fd, byte* buffer, nuint count);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint write(int fd, byte* buffer, nuint count);
}
