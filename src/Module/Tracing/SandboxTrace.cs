namespace Sandbox;

/// <summary>What one traced command did, seen from outside it by strace (see Tracing.CommandTracer).</summary>
public sealed class SandboxTrace
{
    /// <summary>Every file access, in the order strace saw them (paths as the command saw them, inside the sandbox).</summary>
    public IReadOnlyList<TracedFileAccess> Files { get; init; } = Array.Empty<TracedFileAccess>();

    /// <summary>Every process the command started (the command itself first), with its argv and how it ended.</summary>
    public IReadOnlyList<TracedProcess> Processes { get; init; } = Array.Empty<TracedProcess>();

    /// <summary>Every connect(2) a process made, with its result.</summary>
    public IReadOnlyList<TracedConnect> Connects { get; init; } = Array.Empty<TracedConnect>();

    /// <summary>The image's Debian packages that own a traced file, each with the paths it was used for.</summary>
    public IReadOnlyList<TracedPackage> Packages { get; init; } = Array.Empty<TracedPackage>();

    /// <summary>Traced files of the image no package owns (not /proc, /sys, /dev, nor files the command made).</summary>
    public IReadOnlyList<string> UnownedFiles { get; init; } = Array.Empty<string>();

    public TraceSummary Summary { get; init; } = new();

    /// <summary>
    /// True when the trace is not everything the command did: past the limits (events, line
    /// length, package database size) the rest was counted in <see cref="DroppedEvents"/>, not kept.
    /// </summary>
    public bool Truncated { get; init; }

    /// <summary>Trace records counted but not kept (see <see cref="Truncated"/>).</summary>
    public long DroppedEvents { get; init; }

    /// <summary>
    /// Which pid namespace <see cref="TracedFileAccess.Pid"/> and <see cref="TracedProcess.Pid"/> are in:
    /// "sandbox" (the pids the command saw) or "host" (no pid namespace of its own: FakeChroot).
    /// </summary>
    public string PidNamespace { get; init; } = "sandbox";

    public override string ToString() => Summary.ToString();
}

/// <summary>What a file system call did to a path.</summary>
public enum TraceOperation
{
    Read, Write, Create, Delete, Rename, Exec, Chmod, Chown, Link, Symlink, Mkdir, Rmdir, Mknod, Truncate, Chdir,
}

public sealed class TracedFileAccess
{
    public TraceOperation Operation { get; init; }

    /// <summary>The path inside the sandbox; relative when the command named it relative to a folder descriptor.</summary>
    public string Path { get; init; } = "";

    /// <summary>The new name of a <see cref="TraceOperation.Rename"/>, the link's name of a Link or Symlink.</summary>
    public string? Target { get; init; }

    public int Pid { get; init; }

    /// <summary>Refused by the kernel for permissions (EACCES, EPERM, EROFS).</summary>
    public bool Denied { get; init; }

    /// <summary>The error name (ENOENT, EROFS, ...) when the call failed, else null.</summary>
    public string? Errno { get; init; }

    public override string ToString() =>
        $"{Operation} {Path}{(Target is null ? "" : " -> " + Target)}{(Errno is null ? "" : " " + Errno)}";
}

public sealed class TracedProcess
{
    public int Pid { get; init; }

    /// <summary>The pid of the process that started it; null for the command itself.</summary>
    public int? ParentPid { get; init; }

    /// <summary>The argv of its last successful exec; empty for a fork that never exec'd.</summary>
    public IReadOnlyList<string> Argv { get; init; } = Array.Empty<string>();
    public int? ExitCode { get; init; }

    /// <summary>The signal that ended it ("SIGKILL"), or null.</summary>
    public string? Signal { get; init; }

    public override string ToString() => $"{Pid} {string.Join(' ', Argv)}";
}

public enum TraceAddressFamily { Inet, Inet6, Unix, Other }

public sealed class TracedConnect
{
    public int Pid { get; init; }
    public TraceAddressFamily Family { get; init; }

    /// <summary>An IP address, or a Unix socket's path (abstract ones start with '@').</summary>
    public string Address { get; init; } = "";
    public int? Port { get; init; }

    /// <summary>"connected", "in progress" (EINPROGRESS) or the error's name.</summary>
    public string Result { get; init; } = "";

    public override string ToString() => Port is null ? $"{Address} {Result}" : $"{Address}:{Port} {Result}";
}

public sealed class TracedPackage
{
    public string Name { get; init; } = "";
    public IReadOnlyList<string> Paths { get; init; } = Array.Empty<string>();
    public override string ToString() => Name;
}

public sealed class TraceSummary
{
    public IReadOnlyDictionary<string, int> Operations { get; init; } = new Dictionary<string, int>();
    public int Files { get; init; }
    public int Denied { get; init; }
    public int Processes { get; init; }
    public int Connects { get; init; }
    public int Packages { get; init; }
    public bool Truncated { get; init; }

    /// <summary>One line: "12 files (Read 9, Exec 2, Write 1), 1 denied, 3 processes, 0 connects, 4 packages".</summary>
    public override string ToString() =>
        $"{Files} files ({string.Join(", ", Operations.OrderByDescending(o => o.Value).Select(o => $"{o.Key} {o.Value}"))}), " +
        $"{Denied} denied, {Processes} processes, {Connects} connects, {Packages} packages{(Truncated ? ", truncated" : "")}";
}
