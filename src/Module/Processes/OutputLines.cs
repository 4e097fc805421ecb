namespace Sandbox.Processes;

/// <summary>
/// Where a command's output goes line by line while it runs (-Stream), besides the result. Either
/// callback may be null: that stream is then only collected.
/// </summary>
public sealed record OutputLines(Action<string>? StdOut = null, Action<string>? StdErr = null)
{
    public static OutputLines None { get; } = new();
}
