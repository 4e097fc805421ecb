using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>Ctrl-C (a cancelled token) during a command kills its whole tree and leaves the sandbox usable.</summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class CancellationTests : IClassFixture<RootHarnessFixture>
{
    private readonly RootHarnessFixture _fixture;

    public CancellationTests(RootHarnessFixture fixture) => _fixture = fixture;

    [SkippableTheory]
    [InlineData(ProviderName.Bubblewrap)]
    [InlineData(ProviderName.Nspawn)]
    public void Cancelling_a_command_kills_its_tree_and_the_sandbox_stays_usable(ProviderName provider)
    {
        Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
        var engine = ((InProcessHarness)_fixture.Harness).Engine;
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = provider });
        engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sh", "-c", "echo before > /root/state" } });
        var seconds = Random.Shared.Next(1000, 9999).ToString();
        using var cancel = new CancellationTokenSource();
        var running = Task.Run(() => engine.Invoke(sandbox,
            new SandboxCommand { Argv = new[] { "sh", "-c", $"sleep {seconds} & sleep {seconds}" } }, cancellation: cancel.Token));
        Assert.True(Poll.Until(() => HostProcesses.WithCommandLine("sleep", seconds).Count == 2, TimeSpan.FromSeconds(20)), "the command is running");

        cancel.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => running.GetAwaiter().GetResult());
        Assert.Empty(HostProcesses.StillRunningAfter(TimeSpan.FromSeconds(5), "sleep", seconds));
        Assert.Equal("before\n", engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "cat", "/root/state" } }).StdOut);
        engine.RemoveSandbox(sandbox);
    }
}
