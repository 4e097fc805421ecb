using Sandbox.Processes;

namespace Sandbox.Bench;

/// <summary>
/// What -Trace costs on a syscall-heavy command (find /usr -type f | wc -l in a bookworm minbase):
/// the engine's Invoke with and without -Trace, against raw bwrap running the same command with and
/// without plain `strace -f -o /dev/null` (every call stopped and printed). The goal: -Trace adds
/// at most what plain strace adds.
/// </summary>
public static class TraceBench
{
    private const string Find = "find /usr -type f | wc -l";

    public static void Run(SandboxEngine engine, SandboxImage image, int runs, Report report)
    {
        const string section = "Trace (find /usr -type f | wc -l, bookworm minbase)";
        var bwrap = ToolLocator.Require("bwrap", "bubblewrap");
        var strace = ToolLocator.Require("strace", "strace");
        string[] rawBwrap =
        {
            bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", image.RootFs, "/",
            "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "/bin/sh", "-c", Find,
        };
        var raw = Measurement.Take("raw bwrap, untraced", runs, () => ToolRun.MustSucceed(rawBwrap));
        report.Add(section, raw);
        var rawStrace = Measurement.Take("raw strace -f -o /dev/null bwrap", runs,
            () => ToolRun.MustSucceed(new[] { strace, "-f", "-o", "/dev/null", "--" }.Concat(rawBwrap).ToList()));
        report.Add(section, rawStrace, raw);

        var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = image.Name, Provider = ProviderName.Bubblewrap });
        try
        {
            SandboxCommandResult Invoke(bool trace)
            {
                var result = engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "/bin/sh", "-c", Find }, Trace = trace });
                if (result.ExitCode != 0) throw new InvalidOperationException(result.StdErr);
                return result;
            }
            var untraced = Measurement.Take("engine Invoke, untraced", runs, () => Invoke(false));
            report.Add(section, untraced, raw);
            var traced = Measurement.Take("engine Invoke -Trace", runs, () => Invoke(true));
            report.Add(section, traced, untraced);
            var files = Invoke(true).Trace!.Summary.Files;
            var ours = traced.Median - untraced.Median;
            var theirs = rawStrace.Median - raw.Median;
            report.Note($"Trace: -Trace adds {ours.TotalMilliseconds:F0} ms ({files} file accesses kept); plain strace -f adds " +
                        $"{theirs.TotalMilliseconds:F0} ms (goal: -Trace's cost at most strace's own)");
        }
        finally { engine.RemoveSandbox(sandbox); }
    }
}
