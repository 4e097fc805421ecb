using System.Globalization;

namespace Sandbox.Processes;

/// <summary>The live processes of a process group, from /proc (field 5 of /proc/PID/stat is the group).</summary>
internal static class ProcessGroupMembers
{
    /// <summary>Whether any process other than <paramref name="except"/> (the group's unreaped leader) is in group <paramref name="group"/>.</summary>
    public static bool Any(int group, int except)
    {
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(folder), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == except) continue;
            string stat;
            try { stat = File.ReadAllText(Path.Combine(folder, "stat")); }
            catch (IOException) { continue; } // it exited meanwhile
            catch (UnauthorizedAccessException) { continue; }
            // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 2 && fields[0] != "Z" && fields[2] == group.ToString(CultureInfo.InvariantCulture)) return true;
        }
        return false;
    }
}
