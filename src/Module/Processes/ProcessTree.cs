namespace Sandbox.Processes;

/// <summary>Finds a process's descendants from /proc (each process's parent is field 4 of its stat).</summary>
public static class ProcessTree
{
    /// <summary>Processes whose command line contains any of <paramref name="texts"/> (a sandbox's root, say).</summary>
    public static IReadOnlyList<int> Mentioning(params string[] texts)
    {
        var found = new List<int>();
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(folder), out var pid) || pid == Environment.ProcessId) continue;
            try
            {
                var commandLine = File.ReadAllText(Path.Combine(folder, "cmdline"));
                if (texts.Any(text => commandLine.Contains(text, StringComparison.Ordinal))) found.Add(pid);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }

    /// <summary>SIGKILLs each process and everything below it (descendants listed before any dies).</summary>
    public static void KillTrees(IEnumerable<int> roots)
    {
        var all = roots.SelectMany(root => Descendants(root).Prepend(root)).Distinct().ToList();
        foreach (var pid in all) Native.LibC.kill(pid, Native.LibC.SIGKILL);
    }

    /// <summary>
    /// Waits, at most <paramref name="limit"/>, until each of <paramref name="pids"/> has exited. A
    /// zombie counts as exited: it holds no files, locks or mounts any more, and its reaper may be
    /// an init that never comes for it.
    /// </summary>
    public static void WaitUntilExited(IEnumerable<int> pids, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        var running = pids.ToList();
        while (true)
        {
            running.RemoveAll(HasExited);
            if (running.Count == 0 || DateTime.UtcNow >= deadline) return;
            Thread.Sleep(10);
        }
    }

    private static bool HasExited(int pid) => Native.ProcessIdentity.StatFieldsAfterName(pid) is not { } fields || fields[0] == "Z";

    public static IReadOnlyList<int> Descendants(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(folder), out var pid)) continue;
            if (Native.ProcessIdentity.StatFieldsAfterName(pid) is not { } fields || !int.TryParse(fields[1], out var parent)) continue;
            if (!children.TryGetValue(parent, out var list)) children[parent] = list = new List<int>();
            list.Add(pid);
        }

        var found = new List<int>();
        var pending = new Stack<int>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            if (!children.TryGetValue(pending.Pop(), out var list)) continue;
            foreach (var child in list)
            {
                found.Add(child);
                pending.Push(child);
            }
        }
        return found;
    }
}
