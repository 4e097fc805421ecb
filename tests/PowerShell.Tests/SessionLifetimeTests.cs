using Sandbox.PowerShell.Tests.Support;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.PowerShell.Tests;

/// <summary>
/// What the start and end of a PowerShell session do, each session a process of its own: a normal
/// exit removes the sandboxes the session entered (not those entered with -Keep), and importing the
/// module reaps the sandboxes of sessions that were killed. Also the cmdlets as an unprivileged user.
/// </summary>
[Collection(ModuleSessionCollection.Name)]
public sealed class SessionLifetimeTests(ModuleSession session)
{
    private readonly PowerShellSession _shell = session.Shell;
    private static string Import => $"Import-Module '{ScriptHostProcess.ModuleManifest}' -ErrorAction Stop";

    [SkippableFact]
    public void Ending_a_session_removes_its_sandboxes_except_those_entered_with_Keep()
    {
        Skip.If(Environment.UserName != "root", "the sessions share this suite's store, which root owns; run the tests as root (CI does).");
        var ended = ScriptHostProcess.Run($"""
            {Import}
            $null = Enter-Sandbox -Image busybox -Name session-temporary
            $kept = Enter-Sandbox -Image busybox -Name session-kept -Keep
            $null = Invoke-SandboxCommand -Sandbox $kept -Command sh, -c, 'echo kept > /root/mark'
            (Get-Sandbox -Name 'session-*').Name
            """, session.Store);
        Assert.True(ended.ExitCode == 0, ended.StdErr);
        Assert.Equal(new[] { "session-kept", "session-temporary" }, ended.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());

        Assert.Empty(_shell.Ok("Get-Sandbox -Name session-temporary -ErrorAction SilentlyContinue"));
        var kept = _shell.Ok("Get-Sandbox -Name session-kept").Single();
        Assert.Equal("Ready", kept.Get<string>("Status"));

        // The next session's Import-Module reaps orphans; a kept sandbox is not one.
        var next = ScriptHostProcess.Run($"{Import}; (Invoke-SandboxCommand -Sandbox session-kept -Command cat, /root/mark).StdOut", session.Store);
        Assert.True(next.ExitCode == 0, next.StdErr);
        Assert.Equal("kept\n\n", next.StdOut);
        _shell.Ok("Remove-Sandbox -Name session-kept");
    }

    [SkippableFact]
    public void Importing_the_module_reaps_the_sandboxes_of_a_killed_session()
    {
        Skip.If(Environment.UserName != "root", "the sessions share this suite's store, which root owns; run the tests as root (CI does).");
        var seconds = Random.Shared.Next(1000, 9999).ToString();
        using (var killed = ScriptHostProcess.Start($"""
            {Import}
            $sandbox = Enter-Sandbox -Image busybox -Name killed-session
            Invoke-SandboxCommand -Sandbox $sandbox -Command sh, -c, 'sleep {seconds} & sleep {seconds}'
            """, session.Store))
        {
            Assert.True(Poll.Until(() => HostProcesses.WithCommandLine("sleep", seconds).Count == 2, TimeSpan.FromSeconds(60)), "the command is running");
            killed.Kill(); // SIGKILL: no exit hook runs
            killed.WaitForExit();
        }
        var orphan = _shell.Ok("Get-Sandbox -Name killed-session").Single();
        Assert.Equal("Orphaned", orphan.Get<string>("Status"));

        var next = ScriptHostProcess.Run($"{Import}; @(Get-Sandbox -Name killed-session -ErrorAction SilentlyContinue).Count", session.Store);

        Assert.True(next.ExitCode == 0, next.StdErr);
        Assert.Equal("0\n", next.StdOut);
        Assert.Empty(HostProcesses.StillRunningAfter(TimeSpan.FromSeconds(5), "sleep", seconds));
        Assert.False(Directory.Exists(Path.Combine(session.Store, "sandboxes", orphan.Get<string>("Id")!)));
    }

    [SkippableFact]
    [Trait("User", "NonRoot")]
    public void An_unprivileged_user_gets_rootless_sandboxes_from_the_cmdlets()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var folder = new TemporaryFolder("pwsh-user");
        var store = Path.Combine(folder.Path, "store");
        UnprivilegedUser.Ensure();
        Directory.CreateDirectory(store);
        RunAsRoot.Command("chown", $"{UnprivilegedUser.Name}:", store);

        var run = ScriptHostProcess.Run($$"""
            {{Import}}
            Get-SandboxProvider | ForEach-Object { '{0}={1}' -f $_.Name, $_.Available }
            $null = New-SandboxImage -Name busybox -Path '{{session.Tree}}'
            $sandbox = Enter-Sandbox -Image busybox -Provider Bubblewrap
            (Invoke-SandboxCommand -Sandbox $sandbox -Command id, -u).StdOut.Trim()
            (Invoke-SandboxCommand -Sandbox $sandbox -Command sh, -c, 'echo rootless > /data/file.txt; cat /data/file.txt').StdOut.Trim()
            """, store, asUnprivilegedUser: true);

        Assert.True(run.ExitCode == 0, run.StdErr);
        var lines = run.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(new[] { "Bubblewrap=True", "Nspawn=False", "FakeChroot=True", "0", "rootless" }, lines);
        Assert.Equal("original content\n", File.ReadAllText(Path.Combine(store, "layers", System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(store, "images", "busybox", "image.json")))!["Layers"]![0]!.GetValue<string>(), "tree", "data", "file.txt")));
        Assert.Empty(Directory.GetDirectories(Path.Combine(store, "sandboxes")));
    }
}
