using System.Globalization;

namespace Sandbox.Images;

/// <summary>
/// How much memory a root build may write its tree into before it reaches the store (see
/// <see cref="BuildNamespace"/>): half of what this machine, and the memory cgroups this process is
/// in, have free at the start, when that is at least <see cref="MinimumBytes"/>; else none, and the
/// builder writes to the disk as before. One root build at a time is in memory (<see cref="Reserve"/>):
/// each measuring half of what is free at its own start, several at once could hold more than there is.
/// <para>Why: a Debian build writes every file twice (mmdebstrap extracts the essential packages,
/// then dpkg unpacks them again over the extracted ones, each file through a temporary name and a
/// rename), and thousands of file creations, renames and unlinks cost a disk file system far more
/// than the one copy of the finished tree. Measured on this project's machine (ext4 without a journal,
/// a warm package cache): New-SandboxImage -Force of a minbase 22.6 s in memory against 26.3 s on the
/// disk (medians of six alternating pairs; the copy of its 178 MB is 2.1 s of it). A tmpfs's pages are charged to the memory cgroup of
/// the builder, which is ours: a container's limit counts, not only the host's free memory.</para>
/// <para>A build that outgrows its size, or whose tmpfs cannot be mounted, runs again on the disk:
/// the launcher reports it with <see cref="FallbackMarker"/>, and a builder that failed with "No space
/// left on device" in memory is taken at its word too (dpkg backs a failed unpack out, so the tmpfs
/// may have room again by the time the builder exits).</para>
/// </summary>
internal static class BuildMemory
{
    /// <summary>Below this much to spare a build stays on the disk: a minbase tree alone is 178 MB.</summary>
    internal const long MinimumBytes = 1L << 30;

    /// <summary>What the launcher prints (on stderr, then the reason) when the build cannot stay in memory.</summary>
    internal const string FallbackMarker = "sandbox-build: building on the disk:";

    /// <summary>The launcher's exit status with <see cref="FallbackMarker"/>.</summary>
    internal const int FallbackExitCode = 123;

    /// <summary>What the C library says for ENOSPC, in a builder's output.</summary>
    internal const string NoSpaceText = "No space left on device";

    /// <summary>Held (flock) by the root build that is in memory; in root's 0700 folder of the build's mount point.</summary>
    internal static readonly string LockPath = Path.Combine(BuildMountPoint.Parent, "memory.lock");

    /// <summary>
    /// Tests only: the tmpfs size to use instead of the measured one (0: build on the disk); EngineHost sets
    /// it from ENGINEHOST_BUILD_MEMORY, so a test can make a build outgrow a small one.
    /// </summary>
    internal static long? SizeOverride { get; set; }

    /// <summary>
    /// The memory for a root build starting now, held until disposed; null to build on the disk (too
    /// little free, another build is in memory, or the lock cannot be had: memory is only a speed-up).
    /// </summary>
    public static Reservation? Reserve()
    {
        if (Size() is not { } bytes) return null;
        // Root's own lock in root's 0700 folder (BuildMountPoint.Ensure checked it): never handed to a sudo
        // caller, never through a link; the kernel drops it with its holder, so none goes stale.
        var fd = Native.LibC.open(LockPath, Native.LibC.O_RDWR | Native.LibC.O_CREAT | Native.LibC.O_CLOEXEC | Native.OpenFlags.O_NOFOLLOW, 0b110_000_000);
        if (fd < 0) return null;
        if (Native.LibC.flock(fd, Native.LibC.LOCK_EX | Native.LibC.LOCK_NB) == 0) return new Reservation(fd, bytes);
        Native.LibC.close(fd);
        return null;
    }

    /// <summary>A tmpfs size in bytes and the lock that makes it this build's alone.</summary>
    public sealed class Reservation : IDisposable
    {
        private int _fd;

        internal Reservation(int fd, long bytes)
        {
            _fd = fd;
            Bytes = bytes;
        }

        public long Bytes { get; }

        public void Dispose()
        {
            if (_fd >= 0) Native.LibC.close(_fd);
            _fd = -1;
        }
    }

    /// <summary>Set to 0, root builds write to the disk (a machine whose memory is better spent elsewhere; the bench's comparison).</summary>
    internal const string OptOutVariable = "SANDBOX_BUILD_IN_MEMORY";

    /// <summary>The tmpfs size in bytes for a build starting now, or null to build on the disk.</summary>
    private static long? Size()
    {
        if (SizeOverride is { } forced) return forced > 0 ? forced : null;
        if (Environment.GetEnvironmentVariable(OptOutVariable) == "0") return null;
        var cgroups = ReadOrNull("/proc/self/cgroup") is { } membership
            ? CgroupHeadroom(membership, Cgroups.SandboxCgroup.UnifiedRoot, "/sys/fs/cgroup/memory") : null;
        var spare = Math.Min(ReadOrNull("/proc/meminfo") is { } meminfo ? MemAvailable(meminfo) ?? 0 : 0, cgroups ?? long.MaxValue) / 2;
        return spare >= MinimumBytes ? spare / (1 << 20) * (1 << 20) : null;
    }

    /// <summary>Whether a builder's output line is the launcher's fallback report (with <see cref="FallbackExitCode"/>).</summary>
    public static bool IsFallbackReport(string line) => line.StartsWith(FallbackMarker, StringComparison.Ordinal);

    public static bool IsNoSpace(string line) => line.Contains(NoSpaceText, StringComparison.Ordinal);

    /// <summary>
    /// Why a launch in memory must run again on the disk, or null: the launcher's own report (its reason,
    /// with <see cref="FallbackExitCode"/>), or a builder that failed after saying ENOSPC. Not after a
    /// success, a cancel, or the launcher's own setup failure (<see cref="Providers.OverlayLauncher.SetupExitCode"/>).
    /// </summary>
    internal static string? FallbackReason(int? exitCode, bool cancelled, string? report, bool sawNoSpace) =>
        cancelled || exitCode is 0 or Providers.OverlayLauncher.SetupExitCode ? null
        : exitCode == FallbackExitCode && report is not null ? report
        : sawNoSpace ? $"the builder ran out of space: {NoSpaceText}"
        : null;

    /// <summary>/proc/meminfo's MemAvailable in bytes.</summary>
    internal static long? MemAvailable(string meminfo)
    {
        foreach (var line in meminfo.Split('\n'))
            if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                return ParseKilobytes(line["MemAvailable:".Length..]);
        return null;
    }

    internal static long? ParseKilobytes(string field)
    {
        var text = field.Trim();
        if (text.EndsWith(" kB", StringComparison.Ordinal)) text = text[..^3];
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var kilobytes) ? kilobytes * 1024 : null;
    }

    /// <summary>
    /// The least room left under any memory limit of the cgroups in <paramref name="membership"/> (the
    /// text of /proc/self/cgroup), from each one up to its hierarchy's root: in the v2 hierarchy at
    /// <paramref name="unifiedRoot"/> (/sys/fs/cgroup/unified on a hybrid host) the lower of memory.max and
    /// memory.high (above which the kernel throttles) less memory.current, in the v1 memory hierarchy at
    /// <paramref name="v1MemoryRoot"/> memory.limit_in_bytes less memory.usage_in_bytes. Null when none is limited or readable.
    /// </summary>
    internal static long? CgroupHeadroom(string membership, string? unifiedRoot, string v1MemoryRoot)
    {
        long? least = null;
        foreach (var line in membership.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split(':', 3);
            if (fields.Length != 3 || !fields[2].StartsWith('/')) continue;
            var (hierarchy, limitFiles, usageFile) = fields[0] == "0" && fields[1].Length == 0
                ? (unifiedRoot, new[] { "memory.max", "memory.high" }, "memory.current")
                : fields[1].Split(',').Contains("memory")
                    ? (v1MemoryRoot, new[] { "memory.limit_in_bytes" }, "memory.usage_in_bytes")
                    : default;
            if (hierarchy is null) continue;
            for (var group = fields[2]; ; group = Path.GetDirectoryName(group) ?? "/")
            {
                var folder = hierarchy + (group == "/" ? "" : group);
                var limit = limitFiles.Select(file => ReadBytes(Path.Combine(folder, file))).Where(bytes => bytes is not null).Min();
                if (limit is { } bytes && ReadBytes(Path.Combine(folder, usageFile)) is { } usage)
                    least = Math.Min(least ?? long.MaxValue, Math.Max(0, bytes - usage));
                if (group == "/") break;
            }
        }
        return least;
    }

    /// <summary>A cgroup file's number of bytes; null for "max", a missing file or anything else.</summary>
    private static long? ReadBytes(string file) =>
        ReadOrNull(file) is { } text && long.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) ? bytes : null;

    private static string? ReadOrNull(string file)
    {
        try { return File.ReadAllText(file); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
