using Sandbox.Native;

namespace Sandbox.Providers;

/// <summary>
/// The processes of a FakeChroot sandbox, which has no namespace or cgroup to hold them: a command's
/// `setsid daemon &amp;` leaves its backend's tree at once. They are told by what the kernel says
/// about them, which they cannot fake with their command line or environment: a process of this
/// user whose executable (/proc/PID/exe) lies in the sandbox's private copy, or whose working
/// folder (/proc/PID/cwd) does while libfakechroot is mapped into it (/proc/PID/maps: a host binary
/// run from inside the sandbox). The copy is the sandbox's own (not a hardlink farm), so its files
/// belong to no other sandbox; a host process that merely has a file of the copy open, or works in
/// it without fakechroot (a `tail -f` of a log in the copy), is not one of them.
/// Limits (FakeChroot is not a security boundary): a process that left through a static binary or a
/// direct system call, with executable and working folder outside the copy, is not found; nor is one
/// that made itself non-dumpable (prctl), whose /proc links only root may read.
/// Costs one pass over /proc, at removal only.
/// </summary>
internal static class FakeChrootProcesses
{
    public static IReadOnlyList<ProcessIdentity> In(string copy)
    {
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(copy)) + "/";
        var uid = UserIdentity.EffectiveUid;
        var found = new List<ProcessIdentity>();
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(folder), out var pid) || pid == Environment.ProcessId) continue;
            if (FileStatus.Of(folder) is not { } owner || owner.Uid != uid) continue;
            if (ProcessIdentity.Of(pid) is not { } process) continue;
            if (IsInside(Target(folder, "exe"), root) || (IsInside(Target(folder, "cwd"), root) && MapsFakechroot(folder)))
                found.Add(process);
        }
        return found;
    }

    /// <summary>The kernel's path for a /proc link (d_path, with " (deleted)" when unlinked); null if unreadable.</summary>
    private static string? Target(string folder, string link)
    {
        try { return new FileInfo(Path.Combine(folder, link)).LinkTarget; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    private static bool IsInside(string? path, string root) => path is not null && path.StartsWith(root, StringComparison.Ordinal);

    private static bool MapsFakechroot(string folder)
    {
        try
        {
            return File.ReadLines(Path.Combine(folder, "maps")).Any(line => line.EndsWith("/libfakechroot.so", StringComparison.Ordinal));
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }
}
