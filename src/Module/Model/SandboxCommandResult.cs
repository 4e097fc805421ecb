namespace Sandbox;

/// <summary>What one command in a sandbox did: how it ended, what it printed, what it cost.</summary>
public sealed class SandboxCommandResult
{
    public required string Sandbox { get; init; }
    public required IReadOnlyList<string> Command { get; init; }

    /// <summary>The command's exit code; null when a signal ended it.</summary>
    public int? ExitCode { get; init; }

    /// <summary>The signal that ended the command (e.g. "SIGKILL"), or null.</summary>
    public string? Signal { get; init; }

    public bool TimedOut { get; init; }

    /// <summary>stdout decoded as UTF-8, up to the output limit (16 MiB); see <see cref="StdOutTruncated"/>.</summary>
    public string StdOut { get; init; } = "";

    /// <summary>stderr decoded as UTF-8, up to the output limit (16 MiB); see <see cref="StdErrTruncated"/>.</summary>
    public string StdErr { get; init; } = "";

    /// <summary>stdout exactly as the command wrote it (binary output survives), up to the same limit.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public byte[] StdOutBytes { get; init; } = Array.Empty<byte>();

    /// <summary>Bytes the command wrote to stdout, including any the result did not keep.</summary>
    public long StdOutLength { get; init; }

    /// <summary>Bytes the command wrote to stderr, including any the result did not keep.</summary>
    public long StdErrLength { get; init; }

    /// <summary>
    /// True when <see cref="StdOut"/> is not everything the command wrote to stdout: it wrote more
    /// than the limit, or a process it left behind held stdout open and was killed. Use -Stream, or
    /// redirect to a file in the sandbox and Copy-SandboxItem it out, to get everything.
    /// </summary>
    public bool StdOutTruncated { get; init; }

    /// <summary>True when <see cref="StdErr"/> is not everything the command wrote to stderr.</summary>
    public bool StdErrTruncated { get; init; }

    /// <summary>A process the command left behind still held its output open after it ended, and was killed.</summary>
    public bool OutputCutOff { get; init; }
    public TimeSpan Duration { get; init; }
    public TimeSpan UserCpu { get; init; }
    public TimeSpan SystemCpu { get; init; }
    public long PeakMemoryBytes { get; init; }

    /// <summary>What the command did (files, processes, connects, packages), when run with -Trace; else null.</summary>
    public SandboxTrace? Trace { get; init; }

    public bool Succeeded => ExitCode == 0;
}
