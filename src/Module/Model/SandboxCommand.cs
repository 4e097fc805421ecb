namespace Sandbox;

/// <summary>A command to run inside a sandbox: argv, never a shell string.</summary>
public sealed class SandboxCommand
{
    public required IReadOnlyList<string> Argv { get; init; }

    /// <summary>Variables added to the clean environment (PATH, HOME, TERM, LANG).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Bytes for the command's stdin; null gives it /dev/null.</summary>
    public byte[]? StandardInput { get; init; }

    /// <summary>Absolute folder inside the sandbox; null is "/" (or the user's home for a shell).</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>A user name or numeric uid inside the sandbox; null is root.</summary>
    public string? User { get; init; }

    public TimeSpan? Timeout { get; init; }

    /// <summary>Trace the command's file accesses, processes and connects (strace on the host side): the result's Trace.</summary>
    public bool Trace { get; init; }

    /// <summary>The engine's own commands (Copy-SandboxItem's tar) read stdout as bytes.</summary>
    internal bool BinaryStdOut { get; init; }

    /// <summary>The engine's own commands (Copy-SandboxItem's tar out of a sandbox) read stdout as a stream, as it arrives.</summary>
    internal Action<Stream>? StdOutConsumer { get; init; }
}
