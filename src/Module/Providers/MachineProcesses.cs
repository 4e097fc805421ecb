using System.Globalization;
using Sandbox.Native;
using Sandbox.Processes;

namespace Sandbox.Providers;

/// <summary>
/// Whether the processes a machine's record names are still that machine's, checked before any
/// nsenter into them and any signal to them. A pid and start time alone only say the process is
/// the one recorded; this also proves the record names what we started: a systemd-nspawn of root's
/// running with the NOTIFY_SOCKET we gave it (a path only this machine's start used), and a leader
/// that is that nspawn's own child. A record pointing anywhere else (pid 1, any process tree of the
/// host, another machine) fails, so nothing is entered or killed through it.
/// </summary>
internal static class MachineProcesses
{
    // Each check reads /proc by pid, so the start time is compared before and after: what was read
    // belonged to the recorded process, not to a later one that got its pid meanwhile.
    public static bool IsOurNspawn(ProcessIdentity nspawn, string notifySocket) =>
        nspawn.IsAlive && RealUid(nspawn.Pid) == 0 && IsNspawnExecutable(Executable(nspawn.Pid))
        && StartEnvironment(nspawn.Pid).Contains("NOTIFY_SOCKET=" + notifySocket) && nspawn.IsAlive;

    public static bool IsLeaderOf(ProcessIdentity leader, ProcessIdentity nspawn) =>
        leader.IsAlive && ProcessIdentity.StatFieldsAfterName(leader.Pid) is { } fields
        && int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var parent) && parent == nspawn.Pid
        && leader.IsAlive;

    /// <summary>A machine outlives an upgrade of systemd-container: then its exe is the old, deleted file.</summary>
    private static bool IsNspawnExecutable(string? exe) =>
        exe is not null && NspawnExecutable() is { } nspawn && (exe == nspawn || exe == nspawn + " (deleted)");

    /// <summary>Where the kernel says systemd-nspawn is (/proc/PID/exe is the resolved path: /bin -> usr/bin and all).</summary>
    private static string? NspawnExecutable() =>
        ToolLocator.Find("systemd-nspawn") is { } tool ? RealPath.Of(tool) : null;

    private static string? Executable(int pid)
    {
        try { return new FileInfo($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/exe").LinkTarget; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    private static uint? RealUid(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal));
            return line is not null && uint.TryParse(line[4..].Trim().Split('\t')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var uid) ? uid : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>The environment the process was started with (/proc/PID/environ, readable by root).</summary>
    private static string[] StartEnvironment(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/environ").Split('\0'); }
        catch (IOException) { return Array.Empty<string>(); }
        catch (UnauthorizedAccessException) { return Array.Empty<string>(); }
    }
}
