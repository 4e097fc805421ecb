using System.Runtime.InteropServices;

namespace Sandbox.Native;

/// <summary>
/// The flags of open(2), openat(2) and openat2(2), defined once for every caller. Most have the
/// same number on every Linux architecture .NET runs on, but O_DIRECTORY and O_NOFOLLOW do not:
/// arm, arm64 and powerpc use 0x4000 and 0x8000, where x86-64 and the other (asm-generic) ones use
/// 0x10000 and 0x20000, numbers that on arm64 mean O_DIRECT and O_LARGEFILE. A copy holding the
/// x86-64 value builds and runs on arm64 and there quietly follows links, so those two are picked
/// by the architecture of this process, here only.
/// </summary>
internal static class OpenFlags
{
    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_NOCTTY = 0x100;
    public const int O_TRUNC = 0x200;
    public const int O_NONBLOCK = 0x800;
    public const int O_CLOEXEC = 0x80000;
    public const int O_PATH = 0x200000;

    public static readonly int O_DIRECTORY = For(RuntimeInformation.ProcessArchitecture).Directory;
    public static readonly int O_NOFOLLOW = For(RuntimeInformation.ProcessArchitecture).NoFollow;

    /// <summary>O_DIRECTORY and O_NOFOLLOW on <paramref name="architecture"/> (the kernel's asm/fcntl.h of each).</summary>
    internal static (int Directory, int NoFollow) For(Architecture architecture) => architecture switch
    {
        Architecture.Arm or Architecture.Armv6 or Architecture.Arm64 or Architecture.Ppc64le => (0x4000, 0x8000),
        _ => (0x10000, 0x20000),
    };
}
