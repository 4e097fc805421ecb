using System.Diagnostics;

namespace Sandbox.Tests.Support;

/// <summary>
/// The second unprivileged account (sandbox-test2) as an attacker: runs a shell script as that user
/// and reports its exit code and output, never throwing on failure (failing is what a test expects).
/// </summary>
public static class OtherUser
{
    public static (int ExitCode, string Output) Run(string script, params string[] arguments)
    {
        UnprivilegedUser.Ensure(UnprivilegedUser.OtherName);
        var start = new ProcessStartInfo("runuser")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = "/",
        };
        foreach (var word in new[] { "-u", UnprivilegedUser.OtherName, "--", "/bin/sh", "-c", script, "attacker" }.Concat(arguments))
            start.ArgumentList.Add(word);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }
}
