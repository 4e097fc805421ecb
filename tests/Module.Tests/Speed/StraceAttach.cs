using System.Diagnostics;

namespace Sandbox.Tests.Speed;

/// <summary>
/// strace attached to a running process and everything it starts (-f -p) for the length of an
/// action: the raw output lines of the calls named. Waits until strace has attached to every thread
/// before the action, and detaches (SIGINT) after it; the traced processes go on.
/// </summary>
public static class StraceAttach
{
    public static bool Available => File.Exists("/usr/bin/strace") && Environment.UserName == "root";

    public static IReadOnlyList<string> Lines(int pid, string calls, int stringLimit, Action action)
    {
        var output = Path.Combine(Path.GetTempPath(), $"strace-{Guid.NewGuid():N}");
        var start = new ProcessStartInfo("strace") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var word in new[] { "-f", "-e", $"trace={calls}", "-e", "signal=none", "-s", stringLimit.ToString(), "-o", output, "-p", pid.ToString() })
            start.ArgumentList.Add(word);
        using var strace = Process.Start(start)!;
        try
        {
            var ready = new ManualResetEventSlim();
            strace.ErrorDataReceived += (_, line) =>
            {
                // "Process N attached with M threads", written once every thread is attached.
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
        try { return File.ReadAllLines(output); }
        finally { File.Delete(output); }
    }
}
