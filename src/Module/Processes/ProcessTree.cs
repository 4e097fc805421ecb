using Sandbox.Native;

namespace Sandbox.Processes;

/// <summary>
/// A process's descendants, found through the kernel's parent links (never by command-line text),
/// and killing whole trees without letting a fork slip between listing and killing.
/// </summary>
internal static class ProcessTree
{
    private const int SIGSTOP = 19;

    /// <summary>The processes below <paramref name="root"/>, children before their own children.</summary>
    public static IReadOnlyList<int> Descendants(int root) => ChildIndex.Take().DescendantsOf(root);

    /// <summary>SIGKILLs each process (when still the one its pid names) and everything below it.</summary>
    public static IReadOnlyList<ProcessIdentity> KillTrees(IEnumerable<int> roots) =>
        KillTrees(roots.Select(ProcessIdentity.Of).OfType<ProcessIdentity>());

    /// <summary>
    /// SIGKILLs each of <paramref name="roots"/> that is still that very process, and every process
    /// below it. A tree is frozen first: each process found is sent SIGSTOP (a stopped process
    /// cannot fork) and the tree is listed again until no new process appears, so a fork bomb or a
    /// double-forking daemon cannot outrun the kill; then every frozen process gets SIGKILL.
    /// Returns the processes killed, for <see cref="WaitUntilExited(IEnumerable{ProcessIdentity}, TimeSpan)"/>.
    /// </summary>
    public static IReadOnlyList<ProcessIdentity> KillTrees(IEnumerable<ProcessIdentity> roots)
    {
        var frozen = new List<ProcessIdentity>();
        var seen = new HashSet<int>();
        var pending = roots.Where(root => root.Pid != Environment.ProcessId).ToList();
        // Each round stops what the last one found; a process can only appear as the child of one
        // that was still running, so the rounds end once every process in the tree is stopped.
        for (var round = 0; pending.Count > 0 && round < 1000; round++)
        {
            foreach (var process in pending.Where(p => seen.Add(p.Pid)))
                if (process.Signal(SIGSTOP)) frozen.Add(process);
            var index = ChildIndex.Take();
            pending = frozen.SelectMany(p => index.ChildrenOf(p.Pid)).Where(pid => !seen.Contains(pid))
                .Select(ProcessIdentity.Of).OfType<ProcessIdentity>().ToList();
        }
        foreach (var process in frozen) process.Signal(LibC.SIGKILL);
        return frozen;
    }

    /// <summary>
    /// Waits, at most <paramref name="limit"/>, until each of <paramref name="pids"/> has exited. A
    /// zombie counts as exited: it holds no files, locks or mounts any more, and its reaper may be
    /// an init that never comes for it.
    /// </summary>
    public static void WaitUntilExited(IEnumerable<int> pids, TimeSpan limit) =>
        WaitUntilExited(pids.Select(ProcessIdentity.Of).OfType<ProcessIdentity>(), limit);

    public static void WaitUntilExited(IEnumerable<ProcessIdentity> processes, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        var running = processes.ToList();
        while (true)
        {
            running.RemoveAll(HasExited);
            if (running.Count == 0 || DateTime.UtcNow >= deadline) return;
            Thread.Sleep(10);
        }
    }

    private static bool HasExited(ProcessIdentity process) =>
        ProcessIdentity.StatFieldsAfterName(process.Pid) is not { } fields || fields[0] == "Z"
        || ulong.Parse(fields[19], System.Globalization.CultureInfo.InvariantCulture) != process.StartTicks;

    /// <summary>
    /// Who is whose child. With CONFIG_PROC_CHILDREN the kernel lists each thread's children in
    /// /proc/PID/task/TID/children, so a walk costs only the tree's size; without it (this is a
    /// build option, off in some kernels) one pass over /proc collects every process's parent.
    /// </summary>
    private sealed class ChildIndex
    {
        private static readonly bool KernelListsChildren =
            File.Exists($"/proc/self/task/{Environment.ProcessId}/children");

        private readonly Dictionary<int, List<int>>? _byParent;

        private ChildIndex(Dictionary<int, List<int>>? byParent) => _byParent = byParent;

        public static ChildIndex Take() => new(KernelListsChildren ? null : ScanParents());

        public IReadOnlyList<int> ChildrenOf(int pid)
        {
            if (_byParent is not null) return _byParent.TryGetValue(pid, out var list) ? list : Array.Empty<int>();
            var children = new List<int>();
            try
            {
                foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
                    foreach (var word in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                        if (int.TryParse(word, out var child)) children.Add(child);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            return children;
        }

        public IReadOnlyList<int> DescendantsOf(int root)
        {
            var found = new List<int>();
            var seen = new HashSet<int> { root };
            var pending = new Queue<int>();
            pending.Enqueue(root);
            while (pending.Count > 0)
            {
                foreach (var child in ChildrenOf(pending.Dequeue()).Where(seen.Add))
                {
                    found.Add(child);
                    pending.Enqueue(child);
                }
            }
            return found;
        }

        private static Dictionary<int, List<int>> ScanParents()
        {
            var byParent = new Dictionary<int, List<int>>();
            foreach (var folder in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(folder), out var pid)) continue;
                if (ProcessIdentity.StatFieldsAfterName(pid) is not { } fields || !int.TryParse(fields[1], out var parent)) continue;
                if (!byParent.TryGetValue(parent, out var list)) byParent[parent] = list = new List<int>();
                list.Add(pid);
            }
            return byParent;
        }
    }
}
