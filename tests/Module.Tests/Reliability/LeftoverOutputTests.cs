using Sandbox.Processes;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// A process left behind that keeps the output pipe open (possible where there is no pid namespace:
/// FakeChroot, host tools) is killed on purpose and the result says its output was cut off; what was
/// written before is all there. The old runner waited 5 s and returned an empty stdout as if complete.
/// </summary>
[Trait("Area", "Reliability")]
public sealed class LeftoverOutputTests
{
    private static readonly Dictionary<string, string> HostEnvironment = new() { ["PATH"] = ToolLocator.SystemPath };

    [Fact]
    public void A_leftover_holding_stdout_is_killed_and_the_result_says_it_was_cut_off()
    {
        var marker = $"{Random.Shared.Next(100000, 999999)}";
        var outcome = NativeProcessRunner.Run(new ProcessSpec
        {
            Argv = new[] { "sh", "-c", $"echo before; (sleep {marker}; echo never) & echo after" },
            Environment = HostEnvironment,
        });

        Assert.Equal(0, outcome.ExitCode);
        Assert.Equal("before\nafter\n", outcome.StdOut);
        Assert.True(outcome.StdOutTruncated, "output the leftover might still have written is missing: say so");
        Assert.True(outcome.LeftoverKilled);
        Assert.Empty(HostProcesses.StillRunningAfter(TimeSpan.FromSeconds(5), "sleep", marker));
    }

    [Fact]
    public void A_leftover_that_never_stops_writing_is_killed_and_the_result_comes_back()
    {
        var marker = $"leftover-{Random.Shared.Next(100000, 999999)}";
        var outcome = NativeProcessRunner.Run(new ProcessSpec
        {
            Argv = new[] { "sh", "-c", $"echo started; (exec yes {marker}) & sleep 0.2" },
            Environment = HostEnvironment,
        });

        Assert.Equal(0, outcome.ExitCode);
        Assert.StartsWith($"started\n{marker}\n", outcome.StdOut);
        Assert.True(outcome.StdOutTruncated);
        Assert.True(outcome.LeftoverKilled);
        Assert.Empty(HostProcesses.StillRunningAfter(TimeSpan.FromSeconds(5), "yes", marker));
    }

    [Fact]
    public void A_holder_that_left_the_process_group_is_abandoned_and_the_result_says_so()
    {
        var marker = $"{Random.Shared.Next(100000, 999999)}";
        try
        {
            var outcome = NativeProcessRunner.Run(new ProcessSpec
            {
                Argv = new[] { "sh", "-c", $"echo before; setsid sleep {marker} & echo after" },
                Environment = HostEnvironment,
            });

            Assert.Equal("before\nafter\n", outcome.StdOut);
            Assert.True(outcome.StdOutTruncated);
            Assert.True(outcome.StdOutCutOff);
        }
        finally
        {
            // Out of our group, so out of our reach: the test ends it itself.
            foreach (var pid in HostProcesses.WithCommandLine("sleep", marker)) System.Diagnostics.Process.GetProcessById(pid).Kill();
        }
    }

    [Fact]
    public void Output_of_a_background_job_that_ends_with_the_command_is_complete()
    {
        var outcome = NativeProcessRunner.Run(new ProcessSpec
        {
            Argv = new[] { "sh", "-c", "(echo from-job) & wait; echo done" },
            Environment = HostEnvironment,
        });

        Assert.Equal("from-job\ndone\n", outcome.StdOut);
        Assert.False(outcome.StdOutTruncated);
        Assert.False(outcome.LeftoverKilled);
    }

    [Fact]
    public void A_timeout_a_timer_cannot_take_is_refused_before_anything_starts()
    {
        using var folder = new TemporaryFolder("timeout");
        var marker = Path.Combine(folder.Path, "started");

        var error = Assert.Throws<SandboxException>(() => NativeProcessRunner.Run(new ProcessSpec
        {
            Argv = new[] { "touch", marker }, Environment = HostEnvironment, Timeout = TimeSpan.FromDays(50),
        }));

        Assert.Equal("InvalidTimeout", error.ErrorId);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void A_command_that_never_reads_its_stdin_does_not_hang_the_runner()
    {
        var outcome = NativeProcessRunner.Run(new ProcessSpec
        {
            Argv = new[] { "sh", "-c", "echo ignored-input" },
            Environment = HostEnvironment,
            StandardInput = new byte[8 * 1024 * 1024],
        });

        Assert.Equal("ignored-input\n", outcome.StdOut);
        Assert.False(outcome.LeftoverKilled);
    }
}
