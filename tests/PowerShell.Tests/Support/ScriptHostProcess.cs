using System.Diagnostics;
using Sandbox.Tests.Support;

namespace Sandbox.PowerShell.Tests.Support;

/// <summary>
/// A PowerShell session in a process of its own (tests/ScriptHost, a stand-in for `pwsh -Command`),
/// as root or as the unprivileged test user, over a given store. The host and the module are copied
/// to a world-readable folder first: the test user may not traverse the checkout (under /root, say).
/// </summary>
public static class ScriptHostProcess
{
    private static readonly Lazy<string> Folder = new(CopyWorldReadable);

    /// <summary>The module manifest the session processes import.</summary>
    public static string ModuleManifest => Path.Combine(Folder.Value, "Sandbox", "Sandbox.psd1");

    public static Process Start(string script, string store, bool asUnprivilegedUser = false)
    {
        var argv = CommandLine(script, store, asUnprivilegedUser);
        var start = new ProcessStartInfo(argv[0])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = "/tmp",
        };
        foreach (var word in argv.Skip(1)) start.ArgumentList.Add(word);
        return Process.Start(start)!;
    }

    /// <summary>The command line of a session running <paramref name="script"/>, for a caller that starts it itself (tmux).</summary>
    public static IReadOnlyList<string> CommandLine(string script, string store, bool asUnprivilegedUser = false)
    {
        var argv = new List<string>();
        var home = asUnprivilegedUser ? "/home/" + UnprivilegedUser.Name : "/root";
        if (asUnprivilegedUser)
        {
            UnprivilegedUser.Ensure();
            argv.AddRange(new[] { "runuser", "-u", UnprivilegedUser.Name, "--" });
        }
        argv.AddRange(new[]
        {
            "env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", $"HOME={home}", $"SANDBOX_HOME={store}", "TERM=xterm-256color",
            "DOTNET_CLI_TELEMETRY_OPTOUT=1", "DOTNET_NOLOGO=1", "POWERSHELL_TELEMETRY_OPTOUT=1",
            "dotnet", Path.Combine(Folder.Value, "host", "ScriptHost.dll"), script,
        });
        return argv;
    }

    /// <summary>Runs a session to its end and returns its exit code and output.</summary>
    public static (int ExitCode, string StdOut, string StdErr) Run(string script, string store, bool asUnprivilegedUser = false)
    {
        using var process = Start(script, store, asUnprivilegedUser);
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"The PowerShell session did not end within 2 minutes: {script}");
        }
        return (process.ExitCode, stdout, stderr.Result);
    }

    private static string CopyWorldReadable()
    {
        var folder = Directory.CreateTempSubdirectory("sandbox-test-scripthost-").FullName;
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var root = PowerShellSession.RepositoryRoot();
        RunAsRoot.Command("cp", "-r", Path.Combine(root, "tests", "ScriptHost", "bin", configuration, "net10.0"), Path.Combine(folder, "host"));
        RunAsRoot.Command("cp", "-r", Path.GetDirectoryName(PowerShellSession.ModuleManifest)!, Path.Combine(folder, "Sandbox"));
        RunAsRoot.Command("chmod", "-R", "a+rX", folder);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(folder, recursive: true);
        return folder;
    }
}
