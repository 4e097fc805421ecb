using System.Diagnostics;

namespace Sandbox.Tests.Support;

/// <summary>Runs a host command from a test (setup and inspection only, never the code under test).</summary>
public static class RunAsRoot
{
    public static string Command(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        // tmux refuses to start without a terminal type; CI runs with none.
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("TERM"))) start.Environment["TERM"] = "xterm-256color";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {stderr}");
        return stdout.Result;
    }
}
