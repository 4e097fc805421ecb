namespace Sandbox.Tracing;

/// <summary>
/// Turns the collected calls into the trace of the command alone. The backend (bwrap, nspawn,
/// chroot) runs under the same tracer and does its own setup first: only the process that made the
/// command's first successful exec (the argv asked for), from that exec on, and the processes it
/// and its children started after it, belong to the trace. Pids are the sandbox's: a clone's result
/// is the child's pid as its parent saw it (--pidns-translation adds the tracer's own), and the
/// command's own pid is what the provider makes it (1 under bwrap --as-pid-1, 2 under nspawn
/// --as-pid2); without a pid namespace (FakeChroot) they are the host's.
/// </summary>
internal static class TraceInterpreter
{
    private const long CloneThread = 0x10000;
    private const long AtRemoveDir = 0x200;
    private const int AccessModeMask = 3;
    private const int OpenCreate = Native.OpenFlags.O_CREAT;
    private const int OpenTruncate = Native.OpenFlags.O_TRUNC;

    public static SandboxTrace Build(IReadOnlyList<StraceLine> records, long dropped, IReadOnlyList<string> commandArgv,
        int? commandPidInSandbox, TracePaths paths, string workingFolder)
    {
        var start = FindCommandStart(records, commandArgv);
        if (start < 0) return new SandboxTrace { Truncated = dropped > 0, DroppedEvents = dropped, Summary = new TraceSummary { Truncated = dropped > 0 } };
        var rootHost = records[start].Pid;

        // Pass 1: who started whom, after the command's exec. A child's own lines may come before
        // its parent's clone returns, so the whole family is known before any event is kept.
        var leaderOf = new Dictionary<int, int> { [rootHost] = rootHost };
        var parentOf = new Dictionary<int, int>();
        var sandboxPid = new Dictionary<int, int> { [rootHost] = commandPidInSandbox ?? rootHost };
        for (var i = start + 1; i < records.Count; i++)
        {
            if (records[i] is not StraceCall { Result: > 0 } call || !IsClone(call.Name)) continue;
            if (!leaderOf.TryGetValue(call.Pid, out var parentLeader)) continue;
            var childHost = call.HostPid ?? (int)call.Result!.Value;
            if (IsThread(call)) leaderOf[childHost] = parentLeader;
            else
            {
                leaderOf[childHost] = childHost;
                parentOf[childHost] = parentLeader;
                sandboxPid[childHost] = (int)call.Result!.Value;
            }
        }

        // Pass 2: the events of those processes, in order. A child's first lines may come before
        // its parent's clone returns: its record is made at whichever comes first, with the
        // parent's working folder then (the parent is still inside the clone, so it is unchanged).
        var workingFolders = new Dictionary<int, string?> { [rootHost] = paths.Join("/", workingFolder) };
        var processes = new Dictionary<int, ProcessRecord> { [rootHost] = new() { Pid = sandboxPid[rootHost] } };
        ProcessRecord Process(int leader)
        {
            if (processes.TryGetValue(leader, out var known)) return known;
            var parent = parentOf.GetValueOrDefault(leader);
            workingFolders[leader] = workingFolders.GetValueOrDefault(parent);
            return processes[leader] = new ProcessRecord
            {
                Pid = sandboxPid.GetValueOrDefault(leader, leader),
                ParentPid = sandboxPid.TryGetValue(parent, out var parentPid) ? parentPid : null,
            };
        }
        var files = new List<TracedFileAccess>();
        var connects = new List<TracedConnect>();
        for (var i = start; i < records.Count; i++)
        {
            var record = records[i];
            if (!leaderOf.TryGetValue(record.Pid, out var leader)) continue;
            var process = Process(leader);
            if (record is StraceExit exit)
            {
                if (record.Pid == leader) { process.ExitCode = exit.ExitCode; process.Signal = exit.Signal; }
                continue;
            }
            var call = (StraceCall)record;
            var pid = process.Pid;
            var cwd = workingFolders.GetValueOrDefault(leader);
            if (IsClone(call.Name))
            {
                // A fork that does not exec runs its parent's program.
                if (call.Result is > 0 && !IsThread(call)) Process(call.HostPid ?? (int)call.Result.Value).Argv ??= process.Argv;
                continue;
            }
            if (call.Name == "connect")
            {
                if (Connect(call, pid) is { } connect) connects.Add(connect);
                continue;
            }
            if (call.Name is "chdir" && call.Arguments.Count >= 1 && !call.Failed && StraceLineParser.DecodeString(call.Arguments[0]) is { } folder)
                workingFolders[leader] = paths.Join(cwd, folder);
            else if (call.Name is "fchdir" && !call.Failed)
                workingFolders[leader] = null; // a descriptor's folder: not followed
            if (FileAccess(call, pid, paths, cwd) is not { } access) continue;
            files.Add(access);
            if (access.Operation == TraceOperation.Exec && access.Errno is null && ExecArgv(call) is { } argv) process.Argv = argv;
        }

        var processList = processes.Values.Select(p => new TracedProcess { Pid = p.Pid, ParentPid = p.ParentPid, Argv = p.Argv ?? Array.Empty<string>(), ExitCode = p.ExitCode, Signal = p.Signal }).ToList();
        return new SandboxTrace
        {
            Files = files,
            Processes = processList,
            Connects = connects,
            Truncated = dropped > 0,
            DroppedEvents = dropped,
            PidNamespace = commandPidInSandbox is null ? "host" : "sandbox",
            Summary = Summarize(files, processList.Count, connects.Count, 0, dropped > 0),
        };
    }

    public static TraceSummary Summarize(IReadOnlyList<TracedFileAccess> files, int processes, int connects, int packages, bool truncated) => new()
    {
        Files = files.Count,
        Operations = files.GroupBy(f => f.Operation).OrderBy(g => g.Key).ToDictionary(g => g.Key.ToString(), g => g.Count()),
        Denied = files.Count(f => f.Denied),
        Processes = processes,
        Connects = connects,
        Packages = packages,
        Truncated = truncated,
    };

    /// <summary>The index of the first successful exec of exactly the command's argv, or -1.</summary>
    internal static int FindCommandStart(IReadOnlyList<StraceLine> records, IReadOnlyList<string> commandArgv)
    {
        for (var i = 0; i < records.Count; i++)
            if (records[i] is StraceCall { Name: "execve" or "execveat", Result: 0 } call && ExecArgv(call) is { } argv && argv.SequenceEqual(commandArgv))
                return i;
        return -1;
    }

    private static bool IsClone(string name) => name is "clone" or "clone3" or "fork" or "vfork";

    private static bool IsThread(StraceCall call) =>
        call.Name is "clone" or "clone3" && call.Arguments.Count > 0 &&
        call.Arguments.Select(a => StraceLineParser.Field(a, "flags")).FirstOrDefault(f => f is not null) is { } flags && (flags & CloneThread) != 0;

    private static IReadOnlyList<string>? ExecArgv(StraceCall call)
    {
        var index = call.Name == "execveat" ? 2 : 1;
        return call.Arguments.Count > index ? StraceLineParser.DecodeStringArray(call.Arguments[index]) : null;
    }

    /// <summary>The file access a call made, or null for calls that name no path.</summary>
    internal static TracedFileAccess? FileAccess(StraceCall call, int pid, TracePaths paths, string? cwd)
    {
        var a = call.Arguments;
        string? Path(int index, string? dirFd = null) =>
            a.Count > index && StraceLineParser.DecodeString(a[index]) is { } text ? paths.Resolve(dirFd, text, cwd) : null;
        string? Dir(int index) => a.Count > index ? a[index] : null;
        long Number(int index) => a.Count > index && StraceLineParser.TryNumber(a[index], out var n) ? n : 0;

        (TraceOperation, string?, string?)? what = call.Name switch
        {
            "open" => (OpenOperation(Number(1)), Path(0), null),
            "openat" => (OpenOperation(Number(2)), Path(1, Dir(0)), null),
            "openat2" => (OpenOperation(a.Count > 2 ? StraceLineParser.Field(a[2], "flags") ?? 0 : 0), Path(1, Dir(0)), null),
            "creat" => (TraceOperation.Create, Path(0), null),
            "truncate" => (TraceOperation.Truncate, Path(0), null),
            "unlink" => (TraceOperation.Delete, Path(0), null),
            "unlinkat" => ((Number(2) & AtRemoveDir) != 0 ? TraceOperation.Rmdir : TraceOperation.Delete, Path(1, Dir(0)), null),
            "rmdir" => (TraceOperation.Rmdir, Path(0), null),
            "rename" => (TraceOperation.Rename, Path(0), Path(1)),
            "renameat" or "renameat2" => (TraceOperation.Rename, Path(1, Dir(0)), Path(3, Dir(2))),
            "mkdir" => (TraceOperation.Mkdir, Path(0), null),
            "mkdirat" => (TraceOperation.Mkdir, Path(1, Dir(0)), null),
            "link" => (TraceOperation.Link, Path(0), Path(1)),
            "linkat" => (TraceOperation.Link, Path(1, Dir(0)), Path(3, Dir(2))),
            // A link's content is text, not a path of the sandbox to map: only the new name is.
            "symlink" => (TraceOperation.Symlink, Path(1), a.Count > 0 ? StraceLineParser.DecodeString(a[0]) : null),
            "symlinkat" => (TraceOperation.Symlink, Path(2, Dir(1)), a.Count > 0 ? StraceLineParser.DecodeString(a[0]) : null),
            "chmod" => (TraceOperation.Chmod, Path(0), null),
            "fchmodat" => (TraceOperation.Chmod, Path(1, Dir(0)), null),
            "chown" or "lchown" => (TraceOperation.Chown, Path(0), null),
            "fchownat" => (TraceOperation.Chown, Path(1, Dir(0)), null),
            "mknod" => (TraceOperation.Mknod, Path(0), null),
            "mknodat" => (TraceOperation.Mknod, Path(1, Dir(0)), null),
            "execve" => (TraceOperation.Exec, Path(0), null),
            "execveat" => (TraceOperation.Exec, Path(1, Dir(0)), null),
            "chdir" => (TraceOperation.Chdir, Path(0), null),
            _ => null,
        };
        if (what is not var (operation, path, target) || path is null) return null;
        return new TracedFileAccess
        {
            Operation = operation, Path = path, Target = target, Pid = pid,
            Errno = call.Errno, Denied = call.Errno is "EACCES" or "EPERM" or "EROFS",
        };
    }

    private static TraceOperation OpenOperation(long flags) =>
        (flags & OpenCreate) != 0 ? TraceOperation.Create
        : (flags & AccessModeMask) != 0 || (flags & OpenTruncate) != 0 ? TraceOperation.Write
        : TraceOperation.Read;

    /// <summary>connect(fd, {sa_family=0x2, sin_port="\x00\x50", sin_addr="\x7f\x00\x00\x01"}, 16) as a record.</summary>
    internal static TracedConnect? Connect(StraceCall call, int pid)
    {
        if (call.Arguments.Count < 2) return null;
        var address = call.Arguments[1];
        var result = call.Errno switch { null => "connected", "EINPROGRESS" => "in progress", var errno => errno };
        switch (StraceLineParser.Field(address, "sa_family"))
        {
            case 2 when Bytes(address, "sin_addr") is { Length: 4 } v4 && Bytes(address, "sin_port") is { Length: 2 } port:
                return new TracedConnect { Pid = pid, Family = TraceAddressFamily.Inet, Address = new System.Net.IPAddress(v4).ToString(), Port = port[0] << 8 | port[1], Result = result };
            case 10 when Bytes(address, "sin6_addr") is { Length: 16 } v6 && Bytes(address, "sin6_port") is { Length: 2 } port:
                return new TracedConnect { Pid = pid, Family = TraceAddressFamily.Inet6, Address = new System.Net.IPAddress(v6).ToString(), Port = port[0] << 8 | port[1], Result = result };
            case 1:
                return new TracedConnect { Pid = pid, Family = TraceAddressFamily.Unix, Address = StraceLineParser.StringField(address, "sun_path") ?? "", Result = result };
            default:
                return new TracedConnect { Pid = pid, Family = TraceAddressFamily.Other, Address = "", Result = result };
        }
    }

    private static byte[]? Bytes(string token, string field) =>
        StraceLineParser.BytesField(token, field);

    private sealed class ProcessRecord
    {
        public int Pid { get; init; }
        public int? ParentPid { get; init; }
        public IReadOnlyList<string>? Argv { get; set; }
        public int? ExitCode { get; set; }
        public string? Signal { get; set; }
    }
}
