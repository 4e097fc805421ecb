namespace Sandbox.Processes;

/// <summary>How a host process ended, with the kernel's own accounting from wait4.</summary>
internal sealed record ProcessOutcome
{
    /// <summary>The exit code, or null when a signal ended the process.</summary>
    public int? ExitCode { get; init; }

    /// <summary>The number of the signal that ended the process, or null when it exited.</summary>
    public int? Signal { get; init; }

    public bool TimedOut { get; init; }
    public bool Cancelled { get; init; }
    public string StdOut { get; init; } = "";
    public string StdErr { get; init; } = "";

    /// <summary>stdout as bytes, exactly (the text in <see cref="StdOut"/> is decoded from them as UTF-8).</summary>
    public byte[]? StdOutBytes { get; init; }

    /// <summary>Bytes the process wrote to stdout, kept or not.</summary>
    public long StdOutLength { get; init; }

    /// <summary>Bytes the process wrote to stderr, kept or not.</summary>
    public long StdErrLength { get; init; }

    /// <summary>True when <see cref="StdOut"/> is not all the process wrote there (over the limit, or cut off).</summary>
    public bool StdOutTruncated { get; init; }

    /// <summary>True when <see cref="StdErr"/> is not all the process wrote there.</summary>
    public bool StdErrTruncated { get; init; }

    /// <summary>stdout was abandoned before its end because a process that outlived the command held it open.</summary>
    public bool StdOutCutOff { get; init; }

    /// <summary>stderr was abandoned before its end (see <see cref="StdOutCutOff"/>).</summary>
    public bool StdErrCutOff { get; init; }

    /// <summary>Processes the command left behind held its output open after it ended and were killed.</summary>
    public bool LeftoverKilled { get; init; }
    public TimeSpan Duration { get; init; }

    /// <summary>User CPU time of the process and every descendant it waited for.</summary>
    public TimeSpan UserCpu { get; init; }

    /// <summary>System CPU time of the process and every descendant it waited for.</summary>
    public TimeSpan SystemCpu { get; init; }

    /// <summary>Largest resident set of the process or any waited-for descendant, in bytes.</summary>
    public long PeakMemoryBytes { get; init; }

    /// <summary>What the command did, when it ran under -Trace (see Tracing.CommandTracer).</summary>
    public SandboxTrace? Trace { get; init; }
}
