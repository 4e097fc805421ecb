using System.Diagnostics;

namespace Sandbox.Processes;

/// <summary>
/// Runs a host process on the caller's own terminal (stdin, stdout and stderr passed through) and
/// waits for it. This uses System.Diagnostics.Process on purpose: .NET restores the terminal's
/// settings for a child that shares it and puts them back afterwards, which a raw spawn would not.
/// An interactive shell has no use for rusage figures, so nothing is lost.
/// </summary>
public static class InteractiveProcessRunner
{
    public static int Run(IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> environment)
    {
        var start = new ProcessStartInfo
        {
            FileName = ToolLocator.Find(argv[0]) ?? argv[0],
            UseShellExecute = false,
        };
        foreach (var word in argv.Skip(1)) start.ArgumentList.Add(word);
        start.Environment.Clear();
        foreach (var (key, value) in environment) start.Environment[key] = value;

        using var process = Process.Start(start)
            ?? throw new InvalidOperationException($"Could not start {argv[0]}.");
        process.WaitForExit();
        return process.ExitCode;
    }
}
