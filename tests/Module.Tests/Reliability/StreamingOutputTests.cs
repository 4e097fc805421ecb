using Sandbox.Processes;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Streamed lines (-Stream) reach a slow consumer all of them, and the result is complete. The old
/// runner gave the readers 5 s after the exit and then returned whatever they had (here: nothing),
/// exactly as starved thread-pool readers lost output under parallel load.
/// </summary>
[Trait("Area", "Reliability")]
public sealed class StreamingOutputTests
{
    private static readonly Dictionary<string, string> HostEnvironment = new() { ["PATH"] = ToolLocator.SystemPath };

    [Fact]
    public void A_consumer_that_stalls_longer_than_any_drain_time_still_gets_every_line()
    {
        var lines = new List<string>();
        var outcome = NativeProcessRunner.Run(new ProcessSpec
        {
            Argv = new[] { "seq", "1", "5000" }, // 23893 bytes: fits the pipe, so seq ends at once
            Environment = HostEnvironment,
        }, onStdOutLine: line =>
        {
            // The pipeline is busy for a while on the first line (the old drain gave up after 5 s).
            if (lines.Count == 0) Thread.Sleep(TimeSpan.FromSeconds(6));
            lines.Add(line);
        });

        var expected = Enumerable.Range(1, 5000).Select(n => n.ToString()).ToList();
        Assert.Equal(expected, lines);
        Assert.Equal(string.Concat(expected.Select(n => n + "\n")), outcome.StdOut);
        Assert.False(outcome.StdOutTruncated);
        Assert.False(outcome.LeftoverKilled);
    }
}
