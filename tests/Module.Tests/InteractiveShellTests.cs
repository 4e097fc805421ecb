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
        var store = _fixture.Harness.StoreRoot;
        using var log = new TemporaryFolder("shell-log");
        var stderr = Path.Combine(log.Path, "stderr");
        var hostCommand = $"dotnet {EngineHostFiles.EntryAssembly} shell {store} {HarnessFixture.ImageName} PS1=sandbox-prompt\\$' ' 2>{stderr}";

        using (var terminal = new TmuxSession(hostCommand))
        {
            Assert.True(terminal.WaitForScreen(screen => screen.Contains("sandbox-prompt$")), terminal.Screen);
            Assert.Single(_fixture.Harness.List());

            terminal.SendKeys("echo answer=$((6 * 7)); hostname", "Enter");
            // The answer, then the sandbox's own hostname (the sandbox is named after its image).
            Assert.True(terminal.WaitForScreen(screen => screen.Contains("answer=42") && screen.Contains("\ntestimage-")), terminal.Screen);

            terminal.SendKeys("exit 5", "Enter");
            Assert.True(Poll.Until(() => !terminal.IsRunning, TimeSpan.FromSeconds(30)), "the shell exited and EngineHost ended");
        }

        Assert.Contains("shell exited 5; removed", File.ReadAllText(stderr));
        Assert.Empty(_fixture.Harness.List());
        Assert.Empty(Directory.GetDirectories(Path.Combine(store, "sandboxes")));
    }
}
