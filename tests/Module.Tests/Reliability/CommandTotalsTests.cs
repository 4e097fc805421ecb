using Sandbox.Sandboxes;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>The totals line as plain data: fixed length, checksummed, a torn or forged line reads as none.</summary>
[Trait("Area", "Reliability")]
public sealed class CommandTotalsFormatTests
{
    [Fact]
    public void The_line_has_a_fixed_length_and_reads_back()
    {
        var totals = new CommandTotals(12, TimeSpan.FromMilliseconds(1234.5), TimeSpan.FromTicks(7), 123_456_789);
        var line = totals.Format();
        Assert.Equal(128, line.Length);
        Assert.EndsWith("\n", line);
        Assert.Equal(totals, CommandTotals.Parse(line));
        Assert.Equal(128, new CommandTotals(int.MaxValue, TimeSpan.MaxValue, TimeSpan.MaxValue, long.MaxValue).Format().Length);
    }

    [Fact]
    public void A_torn_or_changed_line_is_not_read()
    {
        var line = new CommandTotals(12, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), 4096).Format();
        Assert.Null(CommandTotals.Parse(line.Replace(" 12 ", " 13 ")));
        Assert.Null(CommandTotals.Parse(line[..40]));
        // Half of one write over the other: the counts of the new line, the checksum of the old one.
        var next = new CommandTotals(13, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), 4096).Format();
        Assert.Equal(line.Length, next.Length);
        Assert.Null(CommandTotals.Parse(next[..25] + line[25..]));
        Assert.Null(CommandTotals.Parse(""));
    }
}

/// <summary>
/// Recording a command rewrites files in place (ext4 made every new file cost 0.6-0.8 ms), and a
/// totals file planted as a link is never followed: the totals then go to state.json as before.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class CommandRecordingTests
{
    private static Dictionary<string, ulong> Inodes(string folder) =>
        Directory.GetFiles(folder, "*", SearchOption.AllDirectories).ToDictionary(f => f, f => Native.FileStatus.Of(f)!.Value.Inode);

    [SkippableFact]
    public void Commands_after_the_first_create_no_file_in_the_state_folder_and_are_all_counted()
    {
        using var root = new RootSandbox("totals-inplace");
        var (engine, sandbox) = (root.Engine, root.Sandbox);
        Assert.Equal(0, root.Run("true").ExitCode);
        var state = sandbox.StatePath;
        var before = Inodes(state).Where(kv => !kv.Key.StartsWith(Path.Combine(state, "upper"), StringComparison.Ordinal)).ToDictionary();

        for (var i = 0; i < 5; i++)
            Assert.Equal(0, root.Run("true").ExitCode);

        var after = Inodes(state).Where(kv => !kv.Key.StartsWith(Path.Combine(state, "upper"), StringComparison.Ordinal)).ToDictionary();
        Assert.Equal(before, after);
        Assert.Equal(6, engine.GetSandbox(sandbox.Id).CommandsRun);
        Assert.Equal(6, sandbox.CommandsRun);
        engine.RemoveSandbox(sandbox);
    }

    [SkippableFact]
    public void A_totals_file_planted_as_a_link_is_not_followed_and_the_command_is_still_counted()
    {
        using var root = new RootSandbox("totals-link");
        using var victim = new PreciousFile("totals-victim");
        var (engine, sandbox) = (root.Engine, root.Sandbox);
        victim.PlantLinkAt(Path.Combine(sandbox.StatePath, CommandTotals.FileName));

        Assert.Equal(0, root.Run("true").ExitCode);
        Assert.Equal(0, root.Run("true").ExitCode);

        victim.AssertUntouched();
        Assert.Equal(2, engine.GetSandbox(sandbox.Id).CommandsRun);
        engine.RemoveSandbox(sandbox);
        victim.AssertUntouched();
    }
}
