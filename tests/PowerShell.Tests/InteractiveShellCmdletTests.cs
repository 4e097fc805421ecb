using Sandbox.PowerShell.Tests.Support;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.PowerShell.Tests;

/// <summary>
/// Enter-Sandbox -Shell on a real terminal (tmux), from a PowerShell session that has read a key
/// first, as PSReadLine does at every prompt: .NET leaves the terminal without echo and line
/// editing after Console.ReadKey, and the sandbox's shell must still get a normal terminal.
/// </summary>
[Collection(ModuleSessionCollection.Name)]
public sealed class InteractiveShellCmdletTests(ModuleSession session)
{
    [SkippableFact]
    public void Shell_after_ReadKey_echoes_what_is_typed_and_its_sandbox_is_gone_after_exit()
    {
        Skip.If(Environment.UserName != "root", "the session shares this suite's store, which root owns; run the tests as root (CI does).");
        var tmux = $"sandbox-pwsh-{Guid.NewGuid():N}"[..24];
        var before = Directory.GetDirectories(Path.Combine(session.Store, "sandboxes")).Length;
        var script = $$"""
            Import-Module '{{ScriptHostProcess.ModuleManifest}}' -ErrorAction Stop
            [Console]::WriteLine('ready-for-key')
            $null = [Console]::ReadKey($true)
            Enter-Sandbox -Image busybox -Provider Bubblewrap -Shell -Environment @{ PS1 = 'sandbox-prompt$ ' }
            'session-ended'
            """;
        RunAsRoot.Command("tmux", "new-session", "-d", "-s", tmux, "-x", "120", "-y", "30",
            ShellWords(ScriptHostProcess.CommandLine(script, session.Store)) + "; sleep 600");
        try
        {
            Assert.True(WaitForScreen(tmux, screen => screen.Contains("ready-for-key")), Screen(tmux));
            RunAsRoot.Command("tmux", "send-keys", "-t", tmux, "x");
            Assert.True(WaitForScreen(tmux, screen => screen.Contains("sandbox-prompt$")), Screen(tmux));

            // cat echoes the line back once; the terminal's own echo shows it a second time.
            RunAsRoot.Command("tmux", "send-keys", "-t", tmux, "cat", "Enter");
            RunAsRoot.Command("tmux", "send-keys", "-t", tmux, "typed-line-42", "Enter");
            Assert.True(WaitForScreen(tmux, screen => Count(screen, "typed-line-42") == 2), Screen(tmux));
            RunAsRoot.Command("tmux", "send-keys", "-t", tmux, "C-d");
            RunAsRoot.Command("tmux", "send-keys", "-t", tmux, "exit", "Enter");
            Assert.True(WaitForScreen(tmux, screen => screen.Contains("session-ended")), Screen(tmux));
        }
        finally
        {
            RunAsRoot.Command("tmux", "kill-session", "-t", tmux);
        }
        Assert.Equal(before, Directory.GetDirectories(Path.Combine(session.Store, "sandboxes")).Length);
    }

    private static int Count(string text, string word) => text.Split(word).Length - 1;

    private static string ShellWords(IEnumerable<string> words) => string.Join(' ', words.Select(w => "'" + w.Replace("'", "'\\''") + "'"));

    private static string Screen(string tmux)
    {
        try { return RunAsRoot.Command("tmux", "capture-pane", "-p", "-t", tmux); }
        catch (InvalidOperationException e) { return e.Message; }
    }

    private static bool WaitForScreen(string tmux, Func<string, bool> condition) =>
        Poll.Until(() => condition(Screen(tmux)), TimeSpan.FromSeconds(30));
}
