namespace Sandbox;

/// <summary>Errors about a command's timeout and output.</summary>
public static partial class SandboxErrors
{
    /// <summary>
    /// The longest timeout that can be supervised: System.Threading.Timer takes at most
    /// 4294967294 ms (about 49.7 days). A longer one is refused before anything starts.
    /// </summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromMilliseconds(4294967294);

    public static SandboxException InvalidTimeout(TimeSpan timeout) => new(
        "InvalidTimeout", SandboxErrorKind.InvalidArgument,
        timeout <= TimeSpan.Zero
            ? $"The timeout {timeout} is not positive."
            : $"The timeout {timeout} is longer than the longest that can be supervised ({MaxTimeout}, {(long)MaxTimeout.TotalSeconds} seconds).",
        $"Give -TimeoutSec a number of seconds from 1 to {(long)MaxTimeout.TotalSeconds}, or leave it out for no timeout.");

    /// <summary>The timeout is one the runner can supervise; throws <see cref="InvalidTimeout"/> otherwise.</summary>
    public static void RequireSupervisableTimeout(TimeSpan? timeout)
    {
        if (timeout is { } t && (t <= TimeSpan.Zero || t > MaxTimeout)) throw InvalidTimeout(t);
    }

    /// <summary>A warning's text, not thrown: the result still comes back, with what was kept.</summary>
    public static SandboxException OutputTruncated(string stream, long seen, long kept) => new(
        "OutputTruncated", SandboxErrorKind.InvalidOperation,
        $"The command wrote {seen} bytes to {stream}; the result keeps only the first {kept} ({stream}Truncated is true).",
        "Use -Stream to receive every line as it comes, or redirect the output to a file inside the sandbox and copy it out with Copy-SandboxItem.");

    /// <summary>Text of the warning for output cut off because a leftover process held the pipe.</summary>
    public static SandboxException OutputCutOff(string stream, long seen) => new(
        "OutputCutOff", SandboxErrorKind.InvalidOperation,
        $"The command ended but a process it left behind kept {stream} open; that process was killed and {stream} ends after {seen} bytes ({stream}Truncated is true).",
        "Do not leave background processes writing to the command's output; wait for them inside the command (wait), or redirect their output to a file.");
}
