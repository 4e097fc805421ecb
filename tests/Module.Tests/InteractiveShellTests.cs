using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests;

/// <summary>
/// Drives Enter-Sandbox -Shell's engine path through a real pseudo-terminal: tmux runs EngineHost,
/// which creates a sandbox, runs its shell on the terminal and removes it when the shell exits.
/// </summary>
[Trait("Provider", "Bubblewrap")]
public sealed class InteractiveShellTests : IClassFixture<RootHarnessFixture>
{
    private readonly RootHarnessFixture _fixture;

    public InteractiveShellTests(RootHarnessFixture fixture) => _fixture = fixture;

    [SkippableFact]
    public void Shell_shows_a_prompt_runs_a_command_and_its_sandbox_is_gone_after_exit()
    {
        Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
        var session = $"sandbox-test-{Guid.NewGuid():N}"[..24];
        var store = _fixture.Harness.StoreRoot;
        using var log = new TemporaryFolder("shell-log");
        var stderr = Path.Combine(log.Path, "stderr");
        var hostCommand = $"dotnet {EngineHostFiles.EntryAssembly} shell {store} {HarnessFixture.ImageName} PS1=sandbox-prompt\\$' ' 2>{stderr}";

        RunAsRoot.Command("tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "30", hostCommand);
        try
        {
            Assert.True(WaitForScreen(session, screen => screen.Contains("sandbox-prompt$")), Screen(session));
            Assert.Single(_fixture.Harness.List());

            RunAsRoot.Command("tmux", "send-keys", "-t", session, "echo answer=$((6 * 7)); hostname", "Enter");
            // The answer, then the sandbox's own hostname (the sandbox is named after its image).
            Assert.True(WaitForScreen(session, screen => screen.Contains("answer=42") && screen.Contains("\ntestimage-")), Screen(session));

            RunAsRoot.Command("tmux", "send-keys", "-t", session, "exit 5", "Enter");
            Assert.True(Poll.Until(() => !SessionExists(session), TimeSpan.FromSeconds(30)), "the shell exited and EngineHost ended");
        }
        finally
        {
            if (SessionExists(session)) RunAsRoot.Command("tmux", "kill-session", "-t", session);
        }

        Assert.Contains("shell exited 5; removed", File.ReadAllText(stderr));
        Assert.Empty(_fixture.Harness.List());
        Assert.Empty(Directory.GetDirectories(Path.Combine(store, "sandboxes")));
    }

    private static bool SessionExists(string session)
    {
        try { RunAsRoot.Command("tmux", "has-session", "-t", session); return true; }
        catch (InvalidOperationException) { return false; }
    }

    private static string Screen(string session)
    {
        try { return RunAsRoot.Command("tmux", "capture-pane", "-p", "-t", session); }
        catch (InvalidOperationException e) { return e.Message; }
    }

    private static bool WaitForScreen(string session, Func<string, bool> condition) => Poll.Until(() => condition(Screen(session)), TimeSpan.FromSeconds(30));
}
