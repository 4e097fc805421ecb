using System.Text.RegularExpressions;

namespace Sandbox.Tests.Speed;

/// <summary>
/// The system calls a process and everything it starts make while an action runs, as strace -f
/// sees them (only the calls named), one line each with the caller's pid first; calls interrupted
/// by another thread's line are joined with their "resumed" rest. A count of calls, never a time.
/// </summary>
public static partial class SyscallTrace
{
    public static bool Available => ExecTrace.Available;

    public static IReadOnlyList<string> Of(int pid, string calls, Action action) =>
        Joined(StraceAttach.Lines(pid, calls, stringLimit: 256, action));

    /// <summary>strace -f lines with each "&lt;unfinished ...&gt;" call joined to its "resumed" rest.</summary>
    public static IReadOnlyList<string> Joined(IEnumerable<string> lines)
    {
        var pending = new Dictionary<string, int>();
        var joined = new List<string>();
        foreach (var line in lines)
        {
            if (Resumed().Match(line) is { Success: true } resumed && pending.Remove(resumed.Groups[1].Value, out var at))
            {
                joined[at] = joined[at][..^"<unfinished ...>".Length] + resumed.Groups[2].Value;
                continue;
            }
            if (Pid().Match(line) is { Success: true } caller && line.EndsWith("<unfinished ...>", StringComparison.Ordinal))
                pending[caller.Groups[1].Value] = joined.Count;
            joined.Add(line);
        }
        return joined;
    }

    [GeneratedRegex(@"^(\d+) ")]
    private static partial Regex Pid();

    [GeneratedRegex(@"^(\d+) +<\.\.\. [a-z0-9_]+ resumed>(.*)$")]
    private static partial Regex Resumed();
}
