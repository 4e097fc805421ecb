using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// 32 commands at once each return their whole output. Blocking reads on thread-pool threads
/// starved under this load and the runner dropped what had not arrived 5 s after the exit, so some
/// results came back with exit code 0 and an empty StdOut.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class ParallelOutputTests : IClassFixture<RootHarnessFixture>
{
    private const int Commands = 32;
    private const int Rounds = 10;
    private readonly RootHarnessFixture _fixture;

    public ParallelOutputTests(RootHarnessFixture fixture) => _fixture = fixture;

    [SkippableFact]
    public void Thirty_two_commands_at_once_each_return_their_whole_output_ten_times_over()
    {
        Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
        var engine = ((InProcessHarness)_fixture.Harness).Engine;
        var sandboxes = Enumerable.Range(0, Commands)
            .Select(_ => engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap }))
            .ToList();
        // seq 1 20000 is 108894 bytes; each command also prints its own number, on both streams.
        var expected = string.Concat(Enumerable.Range(1, 20000).Select(n => $"{n}\n"));
        var incomplete = new List<string>();
        for (var round = 0; round < Rounds; round++)
        {
            var results = sandboxes.Select((sandbox, i) => Task.Run(() => engine.Invoke(sandbox, new SandboxCommand
            {
                Argv = new[] { "sh", "-c", $"seq 1 20000; echo {i}; seq 1 20000 >&2; echo {i} >&2" },
            }))).ToArray();
            Task.WaitAll(results);
            for (var i = 0; i < Commands; i++)
            {
                var result = results[i].Result;
                if (result.StdOut != $"{expected}{i}\n" || result.StdErr != $"{expected}{i}\n" || result.StdOutTruncated || result.ExitCode != 0)
                    incomplete.Add($"round {round} command {i}: exit {result.ExitCode}, {result.StdOut.Length} + {result.StdErr.Length} chars");
            }
        }
        foreach (var sandbox in sandboxes) engine.RemoveSandbox(sandbox);
        Assert.Empty(incomplete);
    }
}
