using System.Globalization;

namespace Sandbox.Images;

/// <summary>
/// How much memory a root build may write its tree into before it reaches the store (see
/// <see cref="BuildNamespace"/>): half of what this machine, and the memory cgroups this process is
/// in, have free at the start, when that is at least <see cref="MinimumBytes"/>; else none, and the
/// builder writes to the disk as before.
/// <para>Why: a Debian build writes every file twice (mmdebstrap extracts the essential packages,
/// then dpkg unpacks them again over the extracted ones, each file through a temporary name and a
/// rename), and thousands of file creations, renames and unlinks cost a disk file system far more
/// than the one copy of the finished tree. Measured on this project's machine (ext4, a warm package
/// cache): mmdebstrap minbase 27.5-32.2 s on the disk, 20.4 s in memory with the copy to the disk
/// included (the copy alone 2.1 s for 178 MB). A tmpfs's pages are charged to the memory cgroup of
/// the builder, which is ours: a container's limit counts, not only the host's free memory.</para>
/// <para>A build that outgrows its size fails with ENOSPC in memory; the launcher reports it as
/// <see cref="OutgrewMarker"/> and the build runs again on the disk.</para>
/// </summary>
internal static class BuildMemory
{
    /// <summary>Below this much to spare a build stays on the disk: a minbase tree alone is 178 MB.</summary>
    internal const long MinimumBytes = 1L << 30;

    /// <summary>What the launcher prints (on stderr) when the builder failed with its tmpfs all but full.</summary>
    internal const string OutgrewMarker = "sandbox-build: the build outgrew its memory";

    /// <summary>The launcher's exit status with <see cref="OutgrewMarker"/>.</summary>
    internal const int OutgrewExitCode = 123;

    /// <summary>
    /// Tests only: the tmpfs size to use instead of the measured one (0: build on the disk); EngineHost sets
    /// it from ENGINEHOST_BUILD_MEMORY, so a test can make a build outgrow a small one.
    /// </summary>
    internal static long? SizeOverride { get; set; }

    /// <summary>The tmpfs size in bytes for a build starting now, or null to build on the disk.</summary>
    public static long? Size()
    {
        if (SizeOverride is { } forced) return forced > 0 ? forced : null;
        var spare = Math.Min(MemAvailable() ?? 0, CgroupHeadroom() ?? long.MaxValue) / 2;
        return spare >= MinimumBytes ? spare / (1 << 20) * (1 << 20) : null;
    }

    /// <summary>Whether an output line is the launcher's report that the tree outgrew its memory (with <see cref="OutgrewExitCode"/>).</summary>
    public static bool IsOutgrewReport(string line) => line.StartsWith(OutgrewMarker, StringComparison.Ordinal);

    /// <summary>/proc/meminfo's MemAvailable in bytes.</summary>
    private static long? MemAvailable()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                    return ParseKilobytes(line["MemAvailable:".Length..]);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }

    internal static long? ParseKilobytes(string field)
    {
        var text = field.Trim();
        if (text.EndsWith(" kB", StringComparison.Ordinal)) text = text[..^3];
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var kilobytes) ? kilobytes * 1024 : null;
    }

    /// <summary>
    /// The least room left under any memory limit of this process's cgroups (v2 memory.max less
    /// memory.current; v1 memory.limit_in_bytes less memory.usage_in_bytes), from its own cgroup up; null when none is limited.
    /// </summary>
    private static long? CgroupHeadroom()
    {
        long? least = null;
        try
        {
            foreach (var line in File.ReadLines("/proc/self/cgroup"))
            {
                var fields = line.Split(':', 3);
                if (fields.Length != 3) continue;
                var (mount, limitFile, usageFile) = fields[0] == "0" && fields[1].Length == 0
                    ? ("/sys/fs/cgroup", "memory.max", "memory.current")
                    : fields[1].Split(',').Contains("memory") ? ("/sys/fs/cgroup/memory", "memory.limit_in_bytes", "memory.usage_in_bytes") : default;
                if (mount is null) continue;
                for (var group = fields[2]; ; group = Path.GetDirectoryName(group) ?? "/")
                {
                    var folder = mount + (group == "/" ? "" : group);
                    if (ReadBytes(Path.Combine(folder, limitFile)) is { } limit && ReadBytes(Path.Combine(folder, usageFile)) is { } usage)
                        least = Math.Min(least ?? long.MaxValue, Math.Max(0, limit - usage));
                    if (group == "/") break;
                }
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return least;
    }

    /// <summary>A cgroup file's number of bytes; null for "max", a missing file or anything else.</summary>
    private static long? ReadBytes(string file)
    {
        try
        {
            return long.TryParse(File.ReadAllText(file).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) ? bytes : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
