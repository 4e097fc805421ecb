namespace Sandbox.Tests.Support;

/// <summary>Looks for processes on the host by their exact argv, to prove none was left running.</summary>
public static class HostProcesses
{
    public static IReadOnlyList<int> WithCommandLine(params string[] argv)
    {
        var wanted = string.Join('\0', argv) + "\0";
        var found = new List<int>();
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(folder), out var pid)) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(folder, "cmdline")) == wanted) found.Add(pid);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }

    /// <summary>
    /// Processes whose command line contains <paramref name="text"/> (a sandbox's state folder, say).
    /// Good enough for a test to prove nothing was left; the engine itself never finds processes by
    /// text, which any process can show.
    /// </summary>
    public static IReadOnlyList<int> Mentioning(string text)
    {
        var found = new List<int>();
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(folder), out var pid) || pid == Environment.ProcessId) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(folder, "cmdline")).Contains(text, StringComparison.Ordinal)) found.Add(pid);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }

    /// <summary>Waits a little for processes to be gone: a SIGKILLed tree is reaped asynchronously.</summary>
    public static IReadOnlyList<int> StillRunningAfter(TimeSpan grace, params string[] argv)
    {
        Poll.Until(() => WithCommandLine(argv).Count == 0, grace);
        return WithCommandLine(argv);
    }

    /// <summary>The process's name as the kernel keeps it (/proc/PID/comm); null when it is gone.</summary>
    public static string? Comm(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/comm").TrimEnd('\n'); }
        catch (IOException) { return null; }
    }

    /// <summary>Where the process's root is, as the kernel names it to us ("/" unless it is chrooted); null when it is gone.</summary>
    public static string? RootOf(int pid)
    {
        try { return new FileInfo($"/proc/{pid}/root").LinkTarget; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
