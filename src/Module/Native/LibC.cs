using System.Runtime.InteropServices;

namespace Sandbox.Native;

/// <summary>
/// The few libc calls the BCL does not offer: spawning with our own wait4 (for the kernel's
/// rusage), process groups and signals, advisory locks and mounts. Linux/glibc on x86_64 and
/// aarch64 share every layout used here (rusage is all longs; opaque buffers are over-allocated).
/// </summary>
internal static unsafe partial class LibC
{
    private const string Lib = "libc";

    public const int O_RDONLY = OpenFlags.O_RDONLY;
    public const int O_RDWR = OpenFlags.O_RDWR;
    public const int O_CREAT = OpenFlags.O_CREAT;
    public const int O_CLOEXEC = OpenFlags.O_CLOEXEC;
    public const int EINTR = 4;
    public const int ECHILD = 10;
    public const int EWOULDBLOCK = 11;

    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    public const short POSIX_SPAWN_SETPGROUP = 0x02;
    public const short POSIX_SPAWN_SETSIGDEF = 0x04;
    public const short POSIX_SPAWN_SETSIGMASK = 0x08;

    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int LOCK_UN = 8;

    public const int MNT_DETACH = 2;

    // glibc's posix_spawn_file_actions_t is 80 bytes, posix_spawnattr_t 336, sigset_t 128;
    // the buffers are larger so a libc with bigger opaque types still fits.
    public const int SpawnFileActionsSize = 512;
    public const int SpawnAttrSize = 1024;
    public const int SigSetSize = 256;

    [StructLayout(LayoutKind.Sequential)]
    public struct TimeVal
    {
        public long Seconds;
        public long Microseconds;
        public TimeSpan ToTimeSpan() => TimeSpan.FromTicks(Seconds * TimeSpan.TicksPerSecond + Microseconds * 10);
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct RUsage
    {
        public TimeVal UserTime;
        public TimeVal SystemTime;
        public long MaxRssKiB;
        public fixed long Rest[13];
    }

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int pipe2(int* fds, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, uint mode);

    public const int X_OK = 1;

    /// <summary>Whether the caller's real ids may use <paramref name="path"/> as <paramref name="mode"/> asks (0 when so).</summary>
    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int access(string path, int mode);

    [LibraryImport(Lib)]
    public static partial int posix_spawn_file_actions_init(void* actions);

    [LibraryImport(Lib)]
    public static partial int posix_spawn_file_actions_destroy(void* actions);

    [LibraryImport(Lib)]
    public static partial int posix_spawn_file_actions_adddup2(void* actions, int fd, int newFd);

    [LibraryImport(Lib)]
    public static partial int posix_spawn_file_actions_addopen(void* actions, int fd, byte* path, int flags, uint mode);

    [LibraryImport(Lib)]
    public static partial int posix_spawn_file_actions_addclose(void* actions, int fd);

    /// <summary>
    /// Closes every descriptor from <paramref name="lowFd"/> up in the child (glibc 2.34+). Whatever
    /// started pwsh may have left descriptors open without close-on-exec (a shell's `20&lt;/some/dir`);
    /// a sandbox that inherits one reaches the host through /proc/self/fd, so no child of ours keeps
    /// anything but what its spawn sets up.
    /// </summary>
    [LibraryImport(Lib)]
    public static partial int posix_spawn_file_actions_addclosefrom_np(void* actions, int lowFd);

    /// <summary>The first descriptor a spawned child may not inherit: it keeps stdin, stdout and stderr only.</summary>
    public const int FirstInheritedDescriptorClosed = 3;

    [LibraryImport(Lib)]
    public static partial int posix_spawnattr_init(void* attr);

    [LibraryImport(Lib)]
    public static partial int posix_spawnattr_destroy(void* attr);

    [LibraryImport(Lib)]
    public static partial int posix_spawnattr_setflags(void* attr, short flags);

    [LibraryImport(Lib)]
    public static partial int posix_spawnattr_setpgroup(void* attr, int pgroup);

    [LibraryImport(Lib)]
    public static partial int posix_spawnattr_setsigmask(void* attr, void* sigset);

    [LibraryImport(Lib)]
    public static partial int posix_spawnattr_setsigdefault(void* attr, void* sigset);

    [LibraryImport(Lib)]
    public static partial int sigemptyset(void* set);

    [LibraryImport(Lib)]
    public static partial int sigfillset(void* set);

    [LibraryImport(Lib)]
    public static partial int posix_spawn(int* pid, byte* path, void* actions, void* attr, byte** argv, byte** envp);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int wait4(int pid, int* status, int options, RUsage* usage);

    public const int P_PID = 1;
    public const int WEXITED = 4;
    public const int WNOWAIT = 0x01000000;
    public const int SigInfoSize = 128;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int waitid(int idType, int id, byte* info, int options);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int kill(int pid, int signal);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int flock(int fd, int operation);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial uint geteuid();

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int umount2(string target, int flags);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mount(string source, string target, string fileSystemType, ulong flags, string data);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int lchown(string path, int owner, int group);

    [LibraryImport(Lib)]
    public static partial nint strerror(int errnum);

    public static string ErrorText(int errno) => Marshal.PtrToStringUTF8(strerror(errno)) ?? $"errno {errno}";
}
