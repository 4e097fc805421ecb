namespace Sandbox.Processes;

/// <summary>How a host process ended, with the kernel's own accounting from wait4.</summary>
public sealed record ProcessOutcome
{
    /// <summary>The exit code, or null when a signal ended the process.</summary>
    public int? ExitCode { get; init; }

    /// <summary>The number of the signal that ended the process, or null when it exited.</summary>
    public int? Signal { get; init; }

    public bool TimedOut { get; init; }
    public bool Cancelled { get; init; }
    public string StdOut { get; init; } = "";
    public string StdErr { get; init; } = "";

    /// <summary>stdout as bytes, when the spec asked for <see cref="ProcessSpec.BinaryStdOut"/>.</summary>
    public byte[]? StdOutBytes { get; init; }
    public TimeSpan Duration { get; init; }

    /// <summary>User CPU time of the process and every descendant it waited for.</summary>
    public TimeSpan UserCpu { get; init; }

    /// <summary>System CPU time of the process and every descendant it waited for.</summary>
    public TimeSpan SystemCpu { get; init; }

    /// <summary>Largest resident set of the process or any waited-for descendant, in bytes.</summary>
    public long PeakMemoryBytes { get; init; }
}
