namespace Sandbox.Tracing;

/// <summary>One line of strace's output (-f -q -xx -X raw --pidns-translation), taken apart but not yet interpreted.</summary>
internal abstract record StraceLine(int Pid);

/// <summary>A whole system call: "PID name(args) = result [ERRNO (text)] [/* N in strace's PID NS */]".</summary>
internal sealed record StraceCall(int Pid, string Name, IReadOnlyList<string> Arguments, long? Result, string? Errno, int? HostPid)
    : StraceLine(Pid)
{
    /// <summary>The call failed (returned -1 with an error name).</summary>
    public bool Failed => Errno is not null;
}

/// <summary>"PID name(args <unfinished ...>": the call's first half; strace prints the rest later as <see cref="StraceResumed"/>.</summary>
internal sealed record StraceUnfinished(int Pid, string Name, string ArgumentsHead) : StraceLine(Pid);

/// <summary>"PID &lt;... name resumed&gt;rest": the second half of a call that was <see cref="StraceUnfinished"/>.</summary>
internal sealed record StraceResumed(int Pid, string Name, string Tail) : StraceLine(Pid);

/// <summary>"PID +++ exited with N +++" or "PID +++ killed by SIGNAL [(core dumped)] +++".</summary>
internal sealed record StraceExit(int Pid, int? ExitCode, string? Signal) : StraceLine(Pid);

/// <summary>"PID --- SIGCHLD {...} ---": a signal delivered. Not part of the trace; strace prints a process's
/// "killed by" line only with signals printed, so they are asked for and skipped here.</summary>
internal sealed record StraceSignal(int Pid) : StraceLine(Pid);
