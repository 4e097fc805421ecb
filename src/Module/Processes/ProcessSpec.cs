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

    /// <summary>How much of a captured stream a result keeps by default: 16 MiB. Beyond it bytes are only counted.</summary>
    public const long DefaultOutputLimit = 16L * 1024 * 1024;

    /// <summary>
    /// Bytes of stdout kept in the outcome; the rest is counted and the outcome says it was
    /// truncated. Defaults to <see cref="DefaultOutputLimit"/>, or for <see cref="BinaryStdOut"/>
    /// (the engine's own tar streams, which must arrive whole or fail) to the largest array .NET allows.
    /// </summary>
    public long? StdOutLimitBytes { get; init; }

    /// <summary>
    /// When set, stdout is not kept: this runs on a thread of its own with a stream of stdout's bytes
    /// as they arrive (see <see cref="StreamingStdOut"/>), blocking the command while it does not
    /// read. It must read to the end; if it throws, the command's tree is killed and
    /// <see cref="NativeProcessRunner.Run"/> rethrows what it threw (see <see cref="StdOutConsumerException"/>).
    /// </summary>
    public Action<Stream>? StdOutConsumer { get; init; }

    /// <summary>Bytes of stderr kept in the outcome (see <see cref="StdOutLimitBytes"/>).</summary>
    public long? StdErrLimitBytes { get; init; }

    internal long StdOutLimit => StdOutLimitBytes ?? (BinaryStdOut ? Array.MaxLength : DefaultOutputLimit);
    internal long StdErrLimit => StdErrLimitBytes ?? DefaultOutputLimit;

    /// <summary>
    /// Called with the pid right after the spawn, before any wait; what it returns is disposed once
    /// the process was reaped (so a record of the running process lives exactly as long as it).
    /// </summary>
    public Func<int, IDisposable>? Started { get; init; }

    /// <summary>
    /// Close-on-exec descriptors of ours the process is spawned holding, in order, at the numbers
    /// <see cref="Processes.PassedDescriptors"/> gave them (bwrap's status pipe, see
    /// Providers.Failures.BwrapStatusPipe; root bwrap's overlay, see Providers.HeldOverlayRoot); no
    /// other spawn inherits them.
    /// </summary>
    internal PassedDescriptors? PassedDescriptors { get; init; }
}
