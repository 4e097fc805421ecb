using Sandbox.PowerShell.Tests.Support;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.PowerShell.Tests;

/// <summary>
/// Enter-Sandbox -Shell on a real terminal (tmux), from a PowerShell session that has read a key
/// first, as PSReadLine does at every prompt: .NET leaves the terminal without echo and line
/// editing after Console.ReadKey, and the sandbox's shell must still get a normal terminal (its own
/// pty starts with the kernel's defaults).
/// </summary>
[Collection(ModuleSessionCollection.Name)]
public sealed class InteractiveShellCmdletTests(ModuleSession session)
{
    [SkippableFact]
    public void Shell_after_ReadKey_echoes_what_is_typed_and_its_sandbox_is_gone_after_exit()
    {
        Skip.If(Environment.UserName != "root", "the session shares this suite's store, which root owns; run the tests as root (CI does).");
        var before = Directory.GetDirectories(Path.Combine(session.Store, "sandboxes")).Length;
        var script = $$"""
            Import-Module '{{ScriptHostProcess.ModuleManifest}}' -ErrorAction Stop
            [Console]::WriteLine('ready-for-key')
            $null = [Console]::ReadKey($true)
            Enter-Sandbox -Image busybox -Provider Bubblewrap -Shell -Environment @{ PS1 = 'sandbox-prompt$ ' }
            "session-ended rc=$LASTEXITCODE"
            """;
        using (var terminal = new TmuxSession(ShellWords(ScriptHostProcess.CommandLine(script, session.Store)) + "; sleep 600"))
        {
            Assert.True(terminal.WaitForScreen(screen => screen.Contains("ready-for-key")), terminal.Screen);
            terminal.SendKeys("x");
            Assert.True(terminal.WaitForScreen(screen => screen.Contains("sandbox-prompt$")), terminal.Screen);

            // cat echoes the line back once; the terminal's own echo shows it a second time.
            terminal.SendKeys("cat", "Enter");
            terminal.SendKeys("typed-line-42", "Enter");
            Assert.True(terminal.WaitForScreen(screen => Count(screen, "typed-line-42") == 2), terminal.Screen);
            terminal.SendKeys("C-d");
            terminal.SendKeys("exit 4", "Enter");
            // The shell's exit code is $LASTEXITCODE, as a native command's.
            Assert.True(terminal.WaitForScreen(screen => screen.Contains("session-ended rc=4")), terminal.Screen);
        }
        Assert.Equal(before, Directory.GetDirectories(Path.Combine(session.Store, "sandboxes")).Length);
    }

    private static int Count(string text, string word) => text.Split(word).Length - 1;

    private static string ShellWords(IEnumerable<string> words) => string.Join(' ', words.Select(w => "'" + w.Replace("'", "'\\''") + "'"));
}
