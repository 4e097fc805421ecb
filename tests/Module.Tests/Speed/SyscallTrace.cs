using System.Diagnostics;
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

    public static IReadOnlyList<string> Of(int pid, string calls, Action action)
    {
        var output = Path.Combine(Path.GetTempPath(), $"syscall-trace-{Guid.NewGuid():N}");
        var start = new ProcessStartInfo("strace") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var word in new[] { "-f", "-e", $"trace={calls}", "-e", "signal=none", "-s", "256", "-o", output, "-p", pid.ToString() })
            start.ArgumentList.Add(word);
        using var strace = Process.Start(start)!;
        try
        {
            var ready = new ManualResetEventSlim();
            strace.ErrorDataReceived += (_, line) =>
            {
                if (line.Data is { } text && text.Contains($"Process {pid} attached")) ready.Set();
            };
            strace.BeginErrorReadLine();
            if (!ready.Wait(TimeSpan.FromSeconds(60)))
                throw new TimeoutException($"strace did not attach to {pid} within 60 s.");
            action();
        }
        finally
        {
            Process.Start("kill", new[] { "-INT", strace.Id.ToString() })!.WaitForExit();
            strace.WaitForExit();
        }
        try { return Joined(File.ReadAllLines(output)); }
        finally { File.Delete(output); }
    }

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
