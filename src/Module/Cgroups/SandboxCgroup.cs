using System.Globalization;
using Sandbox.Native;
using Sandbox.Processes;

namespace Sandbox.Cgroups;

/// <summary>
/// The cgroup of one sandbox, <c>sandbox.slice/sandbox-ID</c>, in every hierarchy systemd-nspawn
/// uses: the v2 one (<c>/sys/fs/cgroup/unified</c> on a hybrid host, <c>/sys/fs/cgroup</c> on a
/// unified one) and the v1 <c>name=systemd</c> one if mounted. Where PID 1 is not systemd, nspawn
/// runs with --keep-unit and makes <c>payload</c> and <c>supervisor</c> under the cgroup of the
/// process that started it; started from the root cgroup, every sandbox shared one writable
/// <c>/payload</c>, so one could kill another through cgroup.kill, and cgroups made inside outlived
/// the sandbox. So each nspawn is first moved into a leaf of its own under its sandbox's cgroup:
/// the container's cgroup namespace then ends at that leaf's payload, and removing the sandbox
/// kills and deletes the whole subtree, whatever was made inside.
/// </summary>
internal sealed class SandboxCgroup
{
    public const string Parent = "sandbox.slice";

    private SandboxCgroup(string relative) => Relative = relative;

    /// <summary>The path below each hierarchy's root, e.g. sandbox.slice/sandbox-ID.</summary>
    public string Relative { get; }

    public static SandboxCgroup Of(SandboxInfo sandbox) => new($"{Parent}/sandbox-{sandbox.Id}");

    /// <summary>A cgroup below this one (a command's leaf, the booted machine's).</summary>
    public SandboxCgroup Child(string name) => new($"{Relative}/{name}");

    /// <summary>The v2 hierarchy's mount point, or null if there is none.</summary>
    public static string? UnifiedRoot { get; } =
        File.Exists("/sys/fs/cgroup/unified/cgroup.controllers") ? "/sys/fs/cgroup/unified"
        : File.Exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup" : null;

    /// <summary>The v1 name=systemd hierarchy nspawn also uses on a hybrid host, or null.</summary>
    public static string? NamedSystemdRoot { get; } =
        File.Exists("/sys/fs/cgroup/systemd/tasks") ? "/sys/fs/cgroup/systemd" : null;

    private static IEnumerable<string> Roots => new[] { UnifiedRoot, NamedSystemdRoot }.OfType<string>();

    /// <summary>Whether there is a v2 hierarchy to give sandboxes cgroups in.</summary>
    public static bool Supported => UnifiedRoot is not null;

    /// <summary>The folders of this cgroup, one per hierarchy.</summary>
    public IEnumerable<string> Folders => Roots.Select(root => Path.Combine(root, Relative));

    /// <summary>Makes the cgroup in every hierarchy and returns the cgroup.procs files to join it by.</summary>
    public IReadOnlyList<string> Create()
    {
        foreach (var folder in Folders) Directory.CreateDirectory(folder);
        LimitNesting();
        return Folders.Select(folder => Path.Combine(folder, "cgroup.procs")).ToList();
    }

    /// <summary>
    /// Bounds what a sandbox can build below its cgroup (a booted systemd needs a few levels and a
    /// few dozen cgroups), so a hostile one cannot make removal walk an endless tree.
    /// </summary>
    private void LimitNesting()
    {
        if (UnifiedRoot is null) return;
        var parts = Relative.Split('/');
        if (parts.Length < 2) return;
        var sandboxFolder = Path.Combine(UnifiedRoot, parts[0], parts[1]);
        TryWrite(Path.Combine(sandboxFolder, "cgroup.max.depth"), "16");
        TryWrite(Path.Combine(sandboxFolder, "cgroup.max.descendants"), "1024");
    }

    private static void TryWrite(string file, string value)
    {
        try { File.WriteAllText(file, value); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>
    /// The prefix that moves the process into this cgroup (every hierarchy) before it execs the
    /// rest of the command line, so nspawn and everything under it starts inside.
    /// </summary>
    public List<string> JoinPrefix()
    {
        var argv = new List<string>
        {
            ToolLocator.Require("sh", "dash"), "-c",
            "while [ \"$1\" != -- ]; do echo $$ > \"$1\" || { echo \"sandbox-setup: could not join the cgroup $1\" >&2; exit 125; }; shift; done; shift; exec \"$@\"",
            "sandbox-cgroup",
        };
        argv.AddRange(Create());
        argv.Add("--");
        return argv;
    }

    /// <summary>
    /// Kills every process in the cgroup and its descendants, then deletes them, deepest first, in
    /// every hierarchy. Cgroups made from inside are below ours, so they go too. Never follows
    /// anything: cgroupfs has no links, and the names come from listing it.
    /// </summary>
    public void Remove()
    {
        if (UnifiedRoot is { } unified && Directory.Exists(Path.Combine(unified, Relative)))
            Kill(Path.Combine(unified, Relative));
        foreach (var folder in Folders)
        {
            if (!Directory.Exists(folder)) continue;
            KillMembers(folder); // v1 has no cgroup.kill; processes are the same, usually dead by now
            RemoveTree(folder);
        }
    }

    private static void Kill(string folder)
    {
        // A command's cgroup is usually empty by the time it is removed (its nspawn was reaped):
        // nothing to kill, nothing to wait for.
        if (!Populated(folder)) return;
        var killFile = Path.Combine(folder, "cgroup.kill");
        if (File.Exists(killFile))
        {
            try { File.WriteAllText(killFile, "1"); }
            catch (IOException) { KillMembers(folder); }
        }
        else KillMembers(folder);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        var pause = new Backoff();
        while (Populated(folder) && DateTime.UtcNow < deadline) pause.Wait();
    }

    /// <summary>
    /// Pauses between checks of something that usually settles within a millisecond or two (killed
    /// processes leaving a cgroup): 1 ms first, doubling up to 20 ms, so the common case does not
    /// pay a whole 20 ms pause per check and the rare slow one does not spin.
    /// </summary>
    private sealed class Backoff
    {
        private int _milliseconds = 1;

        public void Wait()
        {
            Thread.Sleep(_milliseconds);
            _milliseconds = Math.Min(_milliseconds * 2, 20);
        }
    }

    private static bool Populated(string folder)
    {
        var events = Path.Combine(folder, "cgroup.events");
        if (!File.Exists(events)) return Members(folder).Any();
        try { return File.ReadLines(events).Contains("populated 1"); }
        catch (IOException) { return false; }
    }

    private static void KillMembers(string folder)
    {
        var pids = Members(folder).ToList();
        if (pids.Count == 0) return;
        foreach (var pid in pids) LibC.kill(pid, LibC.SIGKILL);
        ProcessTree.WaitUntilExited(pids, TimeSpan.FromSeconds(10));
    }

    private static IEnumerable<int> Members(string folder)
    {
        var result = new List<int>();
        foreach (var procs in EnumerateTree(folder).Select(f => Path.Combine(f, "cgroup.procs")))
        {
            try
            {
                foreach (var line in File.ReadLines(procs))
                    if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) result.Add(pid);
            }
            catch (IOException) { }
        }
        return result;
    }

    /// <summary>The folder and every cgroup below it, deepest first.</summary>
    private static IEnumerable<string> EnumerateTree(string folder)
    {
        IEnumerable<string> children;
        try { children = Directory.EnumerateDirectories(folder).ToList(); }
        catch (IOException) { children = Array.Empty<string>(); }
        catch (UnauthorizedAccessException) { children = Array.Empty<string>(); }
        foreach (var child in children)
            foreach (var below in EnumerateTree(child)) yield return below;
        yield return folder;
    }

    private static void RemoveTree(string folder)
    {
        foreach (var cgroup in EnumerateTree(folder))
        {
            // rmdir of a cgroup fails with EBUSY while a process is still leaving it: retry briefly
            // (about 2 s in all, as before; the first retries come sooner).
            var pause = new Backoff();
            for (var attempt = 0; attempt < 105; attempt++)
            {
                try { Directory.Delete(cgroup); break; }
                catch (DirectoryNotFoundException) { break; }
                catch (IOException) { pause.Wait(); }
            }
        }
    }
}
