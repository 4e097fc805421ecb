using Microsoft.Win32.SafeHandles;
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
/// <item>execvp of the command, which libfakechroot maps into the copy: the same search of PATH
/// (each candidate judged by the error its exec would meet), and the same file executed by the
/// same path (the copy followed by the candidate, its dots taken out as libfakechroot does), under
/// the program's own argv[0].</item>
/// </list>
/// Only the plain case is taken: a command in the root folder whose program is an ELF file for
/// this machine, found where every link on the way stays in the copy (openat2 RESOLVE_BENEATH).
/// Everything else, where libfakechroot or the kernel does more than map a path, goes through
/// chroot as before, so no behaviour depends on which way a command started: a script's
/// interpreter, the commands chroot.env substitutes, the host's /dev, /proc and /sys, an absolute
/// link (the kernel resolves it on the host: binds are such links), a PATH with relative folders,
/// FAKECHROOT_ELFLOADER or FAKECHROOT_DEBUG set by the caller, and a program missing or that no
/// exec would start, whose error chroot words.
/// Not a security boundary either way: the program runs as the caller, under the same preload.
/// As with chroot, the kernel resolves the path again at the exec: a process of the sandbox that
/// swaps a folder for a link in between runs what the link names, as it could run it itself.
/// </summary>
internal static class FakeChrootDirectStart
{
    /// <summary>The commands whose execs libfakechroot replaces (chroot.env's list, FakeChrootEnvironment).</summary>
    private static readonly HashSet<string> Substituted = new(FakeChrootEnvironment.SubstitutedCommands, StringComparer.Ordinal);

    /// <summary>libfakechroot variables that change what its execve does, when the caller sets them.</summary>
    private static readonly string[] ExecChangingVariables = { "FAKECHROOT_ELFLOADER", "FAKECHROOT_DEBUG" };

    /// <summary>The host's folders libfakechroot leaves unmapped (FAKECHROOT_EXCLUDE_PATH as we set it).</summary>
    private static readonly string[] HostFolders = FakeChrootEnvironment.ExcludedPaths.Split(':');

    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private const ushort EM_X86_64 = 62;
    private const uint PT_INTERP = 3;

    /// <summary>
    /// The host path to execute for <paramref name="argv"/> in the copy, found as libfakechroot's
    /// execvp would find it; null when the command must start through chroot.
    /// </summary>
    /// <param name="copy">The copy, as the kernel names it (no links on the way).</param>
    /// <param name="environment">The command's environment: PATH (what execvp searches), and libfakechroot's own variables.</param>
    public static string? ProgramFile(string copy, IReadOnlyList<string> argv, string? workingDirectory, IReadOnlyDictionary<string, string> environment)
    {
        if (workingDirectory is not (null or "/") || argv.Count == 0) return null;
        if (ExecChangingVariables.Any(name => environment.TryGetValue(name, out var value) && value.Length > 0)) return null;
        var candidates = Candidates(argv[0], environment.GetValueOrDefault("PATH", ""));
        if (candidates is null) return null;

        var root = OpenAt2.OpenRoot(copy);
        if (root < 0) return null;
        try
        {
            foreach (var candidate in candidates)
            {
                var fd = OpenAt2.Open(root, candidate.TrimStart('/'), OpenAt2.O_PATH, OpenAt2.RESOLVE_BENEATH | OpenAt2.RESOLVE_NO_MAGICLINKS);
                // execvp goes on to the next folder when a name is not there.
                if (fd is -OpenAt2.ENOENT or -OpenAt2.ENOTDIR) continue;
                // A link out of the copy (EXDEV: the kernel would resolve it on the host), or anything else: chroot's.
                if (fd < 0) return null;
                try
                {
                    switch (Judge(fd))
                    {
                        case Verdict.Starts: return copy + candidate;
                        case Verdict.NextFolder: continue;
                        default: return null;
                    }
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
    /// The paths execvp tries for <paramref name="name"/>, in order, as paths inside the copy with
    /// their dots taken out (libfakechroot's dedotdot, by the text: a "/.." never climbs out); null
    /// when the name is one libfakechroot treats specially or PATH has a folder only it can resolve.
    /// </summary>
    internal static IReadOnlyList<string>? Candidates(string name, string path)
    {
        if (name.Length == 0 || name.EndsWith('/') || name.Contains('\0')) return null;
        IReadOnlyList<string> candidates;
        if (name.Contains('/'))
        {
            if (!name.StartsWith('/')) return null; // relative to the working folder: chroot's
            candidates = new[] { name };
        }
        else
        {
            var folders = path.Split(':');
            // An empty or relative entry means the working folder to execvp: left to chroot.
            if (folders.Any(folder => !folder.StartsWith('/'))) return null;
            candidates = folders.Select(folder => folder.TrimEnd('/') + "/" + name).ToList();
        }
        var normalised = candidates.Select(WithoutDots).ToList();
        if (normalised.Any(candidate => OnHostFolder(candidate) || Substituted.Contains(candidate[(candidate.LastIndexOf('/') + 1)..])))
            return null;
        return normalised;
    }

    /// <summary>An absolute path with "." and ".." taken out and slashes single, by its text.</summary>
    internal static string WithoutDots(string path)
    {
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part is "" or ".") continue;
            if (part == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); }
            else parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }

    private static bool OnHostFolder(string candidate) =>
        HostFolders.Any(folder => candidate == folder || candidate.StartsWith(folder + "/", StringComparison.Ordinal));

    private enum Verdict { Starts, NextFolder, ThroughChroot }

    /// <summary>
    /// What an exec of <paramref name="fd"/> would meet: it starts (an ELF file for this machine,
    /// executable by us, whose interpreter the host has); EACCES or ENOENT, after which execvp tries
    /// the next folder; or what only chroot's route does right (a script, ENOEXEC's shell, the rest).
    /// </summary>
    private static Verdict Judge(int fd)
    {
        if (OpenAt2.StatOf(fd) is not { IsRegularFile: true }) return Verdict.NextFolder; // EACCES
        var self = $"/proc/self/fd/{fd}";
        if (LibC.access(self, LibC.X_OK) != 0) return Verdict.NextFolder; // EACCES
        // Reopened through our descriptor, not the path: the file judged is the file read.
        var file = LibC.open(self, OpenAt2.O_RDONLY | OpenAt2.O_NONBLOCK | OpenAt2.O_CLOEXEC, 0);
        if (file < 0) return Verdict.ThroughChroot;
        using var handle = new SafeFileHandle(file, ownsHandle: true);
        if (Interpreter(handle) is not { } interpreter) return Verdict.ThroughChroot;
        // The kernel finds the interpreter on the host (so does chroot's route): ENOENT when missing.
        return interpreter.Length == 0 || File.Exists(interpreter) ? Verdict.Starts : Verdict.NextFolder;
    }

    /// <summary>
    /// The interpreter (PT_INTERP) of a 64-bit little-endian x86-64 ELF file, "" for a static one,
    /// null for anything else (a script, another machine's program, a malformed header). Reads a
    /// bounded number of bytes at given offsets: the file's size is the sandbox's to choose.
    /// </summary>
    internal static string? Interpreter(SafeFileHandle file)
    {
        Span<byte> header = stackalloc byte[64];
        if (RandomAccess.Read(file, header, 0) != header.Length) return null;
        if (!header[..4].SequenceEqual("\u007fELF"u8) || header[4] != 2 /* 64-bit */ || header[5] != 1 /* little-endian */) return null;
        if (BitConverter.ToUInt16(header[18..]) != EM_X86_64) return null;
        var programHeaders = BitConverter.ToUInt64(header[32..]);
        var entrySize = BitConverter.ToUInt16(header[54..]);
        var count = BitConverter.ToUInt16(header[56..]);
        if (entrySize != 56 || count > 512 || programHeaders > long.MaxValue / 2) return null;

        Span<byte> entry = stackalloc byte[56];
        for (var i = 0; i < count; i++)
        {
            if (RandomAccess.Read(file, entry, (long)programHeaders + i * 56L) != entry.Length) return null;
            if (BitConverter.ToUInt32(entry) != PT_INTERP) continue;
            var offset = BitConverter.ToUInt64(entry[8..]);
            var size = BitConverter.ToUInt64(entry[32..]);
            if (size is 0 or > 4096 || offset > long.MaxValue / 2) return null;
            var bytes = new byte[size];
            if (RandomAccess.Read(file, bytes, (long)offset) != bytes.Length || bytes[^1] != 0) return null;
            string path;
            try { path = StrictUtf8.GetString(bytes, 0, bytes.Length - 1); }
            catch (System.Text.DecoderFallbackException) { return null; } // a name .NET cannot say: chroot's
            return path.StartsWith('/') && !path.Contains('\0') ? path : null;
        }
        return "";
    }
}
