using System.Text.RegularExpressions;

namespace Sandbox.Tests.Speed;

/// <summary>
/// The programs a process and everything it starts execute while an action runs, as strace sees
/// them: strace follows every thread of the process (-f -p) from before the action until after it,
/// and each successful execve is one entry (the program's path; our launch helper, executed
/// through /proc/PID/fd/N, as "sandbox-launch"). A count of execs, never a time.
/// </summary>
public static partial class ExecTrace
{
    public const string LaunchHelper = "sandbox-launch";

    public static bool Available => StraceAttach.Available;

    public static IReadOnlyList<string> Of(int pid, Action action) =>
        Programs(StraceAttach.Lines(pid, "execve,execveat", stringLimit: 512, action));

    /// <summary>The programs of the successful execs in strace -f output, in order.</summary>
    public static IReadOnlyList<string> Programs(IEnumerable<string> lines)
    {
        var pending = new Dictionary<string, string>();
        var programs = new List<string>();
        foreach (var line in lines)
        {
            if (Call().Match(line) is { Success: true } call)
            {
                var program = Name(call.Groups[2].Value);
                if (line.EndsWith("<unfinished ...>", StringComparison.Ordinal)) pending[call.Groups[1].Value] = program;
                else if (line.EndsWith(" = 0", StringComparison.Ordinal)) programs.Add(program);
            }
            else if (Resumed().Match(line) is { Success: true } resumed && pending.Remove(resumed.Groups[1].Value, out var program)
                     && line.EndsWith(" = 0", StringComparison.Ordinal))
                programs.Add(program);
        }
        return programs;
    }

    private static string Name(string path) =>
        path.StartsWith("/proc/", StringComparison.Ordinal) && path.Contains("/fd/") ? LaunchHelper : Path.GetFileName(path);

    [GeneratedRegex(@"^(\d+) +execve(?:at)?\((?:\d+, )?""([^""]*)""")]
    private static partial Regex Call();

    [GeneratedRegex(@"^(\d+) +<\.\.\. execve(?:at)? resumed>")]
    private static partial Regex Resumed();
}
