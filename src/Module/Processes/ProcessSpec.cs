namespace Sandbox.Processes;

/// <summary>
/// One host process to start: an argv array (never a shell string), the whole environment it gets
/// (nothing is inherited), optional bytes for its stdin, and a timeout after which its whole
/// process group is killed.
/// </summary>
public sealed class ProcessSpec
{
    public required IReadOnlyList<string> Argv { get; init; }
    public required IReadOnlyDictionary<string, string> Environment { get; init; }
    public byte[]? StandardInput { get; init; }
    public TimeSpan? Timeout { get; init; }

    /// <summary>Keep stdout as bytes (a tar stream, say) instead of decoding it as text.</summary>
    public bool BinaryStdOut { get; init; }

    /// <summary>
    /// Called with the pid right after the spawn, before any wait; what it returns is disposed once
    /// the process was reaped (so a record of the running process lives exactly as long as it).
    /// </summary>
    public Func<int, IDisposable>? Started { get; init; }
}
