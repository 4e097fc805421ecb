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
    public string StdOut { get; init; } = "";
    public string StdErr { get; init; } = "";

    /// <summary>stdout as bytes for the engine's own binary commands (Copy-SandboxItem); null otherwise.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    internal byte[]? StdOutBytes { get; init; }
    public TimeSpan Duration { get; init; }
    public TimeSpan UserCpu { get; init; }
    public TimeSpan SystemCpu { get; init; }
    public long PeakMemoryBytes { get; init; }

    public bool Succeeded => ExitCode == 0;
}
