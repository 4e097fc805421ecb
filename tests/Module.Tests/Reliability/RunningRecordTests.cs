using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// A running command's record is a reused slot file (RunningCommands): commands one after another
/// create no file each (ext4 made every create cost 0.6-0.8 ms), commands at once get a slot each,
/// and a slot the sandbox's owner could plant as a link (under sudo the state folder is theirs) is
/// never followed.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class RunningRecordTests
{
    [SkippableFact]
    public void Commands_one_after_another_reuse_one_slot_and_leave_it_empty()
    {
        using var root = new RootSandbox("running-slots");
        var (engine, sandbox) = (root.Engine, root.Sandbox);
        var running = Path.Combine(sandbox.StatePath, "running");

        for (var i = 0; i < 5; i++)
            Assert.Equal(0, root.Run("true").ExitCode);

        var slot = Assert.Single(Directory.GetFiles(running));
        Assert.Equal("slot-0", Path.GetFileName(slot));
        Assert.Equal("", System.Text.Encoding.ASCII.GetString(Storage.UntrustedFile.ReadRegular(slot, 64)!).Trim());
        engine.RemoveSandbox(sandbox);
    }

    [SkippableFact]
    public void A_running_command_is_recorded_by_identity_and_commands_at_once_get_a_slot_each()
    {
        using var root = new RootSandbox("running-two");
        var (engine, sandbox) = (root.Engine, root.Sandbox);
        var seconds = Random.Shared.Next(1000, 9999).ToString();
        var first = Task.Run(() => root.Run("sleep", seconds));
        var second = Task.Run(() => root.Run("sleep", seconds));
        Assert.True(Poll.Until(() => HostProcesses.WithCommandLine("sleep", seconds).Count == 2, TimeSpan.FromSeconds(30)), "both commands run");
        var running = Path.Combine(sandbox.StatePath, "running");
        // Read as the engine reads them: a claimed slot is flocked, which .NET's own File.Read* refuses.
        static string Text(string slot) => System.Text.Encoding.ASCII.GetString(Storage.UntrustedFile.ReadRegular(slot, 64)!);
        Assert.True(Poll.Until(() => Directory.GetFiles(running).Count(f => Text(f).Trim().Length > 0) == 2, TimeSpan.FromSeconds(10)),
            string.Join(", ", Directory.GetFiles(running).Select(f => $"{Path.GetFileName(f)}={Text(f)}")));
        foreach (var slot in Directory.GetFiles(running))
        {
            var text = Text(slot).Trim();
            var pid = int.Parse(text.Split('-')[0]);
            Assert.Equal(text, $"{pid}-{Native.ProcessIdentity.Of(pid)!.Value.StartTicks}");
        }

        engine.RemoveSandbox(engine.GetSandbox(sandbox.Id));

        Assert.Empty(HostProcesses.StillRunningAfter(TimeSpan.FromSeconds(10), "sleep", seconds));
        Assert.True(Task.WaitAll(new Task[] { first, second }, TimeSpan.FromSeconds(30)) || first.IsFaulted || second.IsFaulted);
    }

    [SkippableFact]
    public void A_slot_planted_as_a_link_is_not_followed()
    {
        using var root = new RootSandbox("running-link");
        using var victim = new PreciousFile("running-victim");
        var (engine, sandbox) = (root.Engine, root.Sandbox);
        var running = Path.Combine(sandbox.StatePath, "running");
        victim.PlantLinkAt(Path.Combine(running, "slot-0"));

        Assert.Equal(0, root.Run("true").ExitCode);

        victim.AssertUntouched();
        Assert.True(File.Exists(Path.Combine(running, "slot-1")), "the record went to the next slot");
        engine.RemoveSandbox(sandbox);
        victim.AssertUntouched();
    }

    [SkippableFact]
    public void A_running_folder_swapped_for_a_link_gets_no_record_written_through_it()
    {
        using var root = new RootSandbox("running-swapped");
        using var victim = new TemporaryFolder("running-swapped-victim");
        var (engine, sandbox) = (root.Engine, root.Sandbox);
        var running = Path.Combine(sandbox.StatePath, "running");
        Directory.Delete(running, recursive: true);
        Directory.CreateSymbolicLink(running, victim.Path);

        Assert.Equal(0, root.Run("true").ExitCode);

        Assert.Empty(Directory.GetFileSystemEntries(victim.Path));
        engine.RemoveSandbox(sandbox);
        Assert.True(Directory.Exists(victim.Path));
    }
}
