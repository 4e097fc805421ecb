using Sandbox.Native;

namespace Sandbox.Providers;

/// <summary>
/// A FakeChroot command started with nothing in front of it: the copy's program executed directly,
/// with the variables chroot's run would have left it (<see cref="FakeChrootEnvironment.DirectEnvironment"/>),
/// in the copy's root folder. The host's chroot under the preload is a whole dynamically linked
/// process more (libc, libfakeroot and libfakechroot loaded and initialised, then the exec): about
/// 8 ms of a 22 ms command on this machine, for three things done here instead:
/// <list type="bullet">
/// <item>chroot(2), which libfakechroot turns into FAKECHROOT_BASE and two more LD_LIBRARY_PATH
/// folders: the variables, set directly;</item>
/// <item>chdir("/"), which libfakechroot maps to the copy: the launch helper starts the program there;</item>
/// <item>execvp of the command, which libfakechroot maps into the copy: the same search of PATH,
/// resolved here beneath the copy (openat2 RESOLVE_IN_ROOT, so a link in the copy can never lead
/// out of it), and the program executed by its host path with its own argv[0].</item>
/// </list>
/// Only the plain case is taken: a command in the root folder whose program is an executable ELF
/// file. Everything else, where libfakechroot's execve does more than map a path (a script's
/// interpreter, the commands chroot.env substitutes, the host's /dev, /proc and /sys, a PATH with
/// relative folders, a program that is missing or not executable, whose error chroot words), goes
/// through chroot as before, so no behaviour depends on which way a command started.
/// Not a security boundary either way: the program runs as the caller, under the same preload.
/// </summary>
internal static class FakeChrootDirectStart
{
    /// <summary>The commands whose execs libfakechroot replaces (chroot.env's list, FakeChrootEnvironment).</summary>
    private static readonly HashSet<string> Substituted = new(StringComparer.Ordinal) { "chroot", "env", "ischroot", "ldconfig", "ldd" };

    private static readonly string[] HostFolders = { "/dev", "/proc", "/sys" };

    private static ReadOnlySpan<byte> ElfMagic => "\u007fELF"u8;

    /// <summary>
    /// The host path of the file to execute for <paramref name="argv"/> in the copy, found as
    /// libfakechroot's execvp would find it; null when the command must start through chroot.
    /// </summary>
    /// <param name="copy">The copy, as the kernel names it (no links on the way).</param>
    /// <param name="path">The command's PATH (what execvp searches for a name without a slash).</param>
    public static string? ProgramFile(string copy, IReadOnlyList<string> argv, string? workingDirectory, string path)
    {
        if (workingDirectory is not (null or "/") || argv.Count == 0) return null;
        var candidates = Candidates(argv[0], path);
        if (candidates is null) return null;

        var root = OpenAt2.OpenRoot(copy);
        if (root < 0) return null;
        try
        {
            foreach (var candidate in candidates)
            {
                var fd = OpenAt2.Open(root, candidate.TrimStart('/'), OpenAt2.O_PATH, OpenAt2.RESOLVE_IN_ROOT | OpenAt2.RESOLVE_NO_MAGICLINKS);
                // execvp goes on to the next folder when a name is not there; anything else ends its search.
                if (fd is -OpenAt2.ENOENT or -OpenAt2.ENOTDIR) continue;
                if (fd < 0) return null;
                try
                {
                    return ExecutableElf(fd, copy);
                }
                finally
                {
                    OpenAt2.close(fd);
                }
            }
            return null;
        }
        finally
        {
            OpenAt2.close(root);
        }
    }

    /// <summary>
    /// The paths execvp tries for <paramref name="name"/>, in order, as paths inside the copy; null
    /// when the name is one libfakechroot treats specially or PATH has a folder only it can resolve.
    /// </summary>
    internal static IReadOnlyList<string>? Candidates(string name, string path)
    {
        if (name.Length == 0 || name.EndsWith('/') || Substituted.Contains(name[(name.LastIndexOf('/') + 1)..])) return null;
        IReadOnlyList<string> candidates;
        if (name.Contains('/'))
            candidates = name.StartsWith('/') ? new[] { name } : Array.Empty<string>();
        else
        {
            var folders = path.Split(':');
            // An empty or relative entry means the working folder to execvp: left to chroot.
            if (folders.Any(folder => !folder.StartsWith('/'))) return null;
            candidates = folders.Select(folder => folder.TrimEnd('/') + "/" + name).ToList();
        }
        if (candidates.Count == 0 || candidates.Any(OnHostFolder)) return null;
        return candidates;
    }

    private static bool OnHostFolder(string candidate) =>
        HostFolders.Any(folder => candidate == folder || candidate.StartsWith(folder + "/", StringComparison.Ordinal));

    /// <summary>The host path of <paramref name="fd"/> when it is an executable ELF file inside the copy, else null.</summary>
    private static unsafe string? ExecutableElf(int fd, string copy)
    {
        if (OpenAt2.StatOf(fd) is not { IsRegularFile: true } status || (status.Permissions & 0b001_001_001) == 0) return null;
        var hostPath = OpenAt2.LinkTarget(-100 /* AT_FDCWD */, $"/proc/self/fd/{fd}");
        if (hostPath is null || !hostPath.StartsWith(copy + "/", StringComparison.Ordinal)) return null;

        // Reopened through our descriptor, not the path: the file checked is the file read.
        var file = LibC.open($"/proc/self/fd/{fd}", OpenAt2.O_RDONLY | OpenAt2.O_NONBLOCK | OpenAt2.O_CLOEXEC, 0);
        if (file < 0) return null;
        try
        {
            var magic = stackalloc byte[4];
            return OpenAt2.read(file, magic, 4) == 4 && new ReadOnlySpan<byte>(magic, 4).SequenceEqual(ElfMagic) ? hostPath : null;
        }
        finally
        {
            OpenAt2.close(file);
        }
    }
}
