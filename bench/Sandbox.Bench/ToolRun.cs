using Sandbox.Processes;

namespace Sandbox.Bench;

/// <summary>Runs a raw tool the way the engine runs its backends (posix_spawn, clean environment).</summary>
internal static class ToolRun
{
    public static ProcessOutcome Run(IReadOnlyList<string> argv, IReadOnlyDictionary<string, string>? extra = null)
    {
        var environment = new Dictionary<string, string> { ["PATH"] = ToolLocator.SystemPath, ["LANG"] = "C.UTF-8", ["HOME"] = "/root" };
        foreach (var (key, value) in extra ?? new Dictionary<string, string>()) environment[key] = value;
        return NativeProcessRunner.Run(new ProcessSpec { Argv = argv, Environment = environment });
    }

    public static void MustSucceed(IReadOnlyList<string> argv, IReadOnlyDictionary<string, string>? extra = null)
    {
        var outcome = Run(argv, extra);
        if (outcome.ExitCode != 0)
            throw new InvalidOperationException($"{ShellQuote.Join(argv)} failed ({outcome.ExitCode}): {outcome.StdErr.Trim()}");
    }
}
