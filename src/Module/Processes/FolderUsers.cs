namespace Sandbox.Processes;

/// <summary>
/// The processes working in a folder, found by what the kernel says they hold (their working
/// folder and open descriptors, from /proc), never by the text of their command lines, which any
/// process can make name anything. Used only on rare paths (the leftover of a killed build), as it
/// reads every process's descriptors.
/// </summary>
internal static class FolderUsers
{
    public static IReadOnlyList<int> Of(string folder)
    {
        var inside = folder.TrimEnd('/') + "/";
        bool IsInside(string? target) => target is not null && (target == folder || target.StartsWith(inside, StringComparison.Ordinal));

        var found = new List<int>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out var pid) || pid == Environment.ProcessId) continue;
            try
            {
                if (IsInside(LinkTarget(Path.Combine(entry, "cwd")))
                    || Directory.EnumerateFileSystemEntries(Path.Combine(entry, "fd")).Any(fd => IsInside(LinkTarget(fd))))
                    found.Add(pid);
            }
            catch (IOException) { /* it exited while we looked */ }
            catch (UnauthorizedAccessException) { /* another user's process: not ours to kill */ }
        }
        return found;
    }

    private static string? LinkTarget(string link)
    {
        try { return new FileInfo(link).LinkTarget; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
