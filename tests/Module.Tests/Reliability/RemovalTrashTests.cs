using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// A removal takes the sandbox's state folder away in one rename into the store's trash and deletes
/// it in the background (StoreTrash): Remove-Sandbox pays one rename instead of a dozen unlinks, and
/// no other process ever sees a state folder half deleted, which the reaping of every import read as
/// a creation that died half-way and reported as an orphan it had removed.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class RemovalTrashTests
{
    [SkippableFact]
    public void A_removed_sandbox_leaves_nothing_in_the_store_once_the_background_deletion_ends()
    {
        Skip.If(Environment.UserName != "root", "root Bubblewrap; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("removal-trash");
        var engine = busybox.Engine;
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        // A command mounts the overlay and writes into the upper layer: a tree to delete, a mount to undo first.
        Assert.Equal(0, engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sh", "-c", "mkdir -p /a/b/c && echo x > /a/b/c/f" } }).ExitCode);

        engine.RemoveSandbox(sandbox);

        Assert.False(Directory.Exists(sandbox.StatePath));
        Assert.False(File.Exists(Path.Combine(busybox.Root, "locks", $"sandbox-{sandbox.Id}.lock")));
        // The overlay went to the trash still mounted (OverlayUnmountInTrash): detached there, by identity, before the deletion.
        StoreTrash.WaitForPending(TimeSpan.FromMinutes(1));
        Assert.DoesNotContain(MountPoints(), point => point.StartsWith(busybox.Root + "/", StringComparison.Ordinal));
        var trash = Path.Combine(busybox.Root, "trash");
        Assert.Empty(Directory.Exists(trash) ? Directory.GetFileSystemEntries(trash) : Array.Empty<string>());
    }

    [SkippableFact]
    public void Removals_racing_a_reaper_are_never_taken_for_creations_that_died_half_way()
    {
        Skip.If(Environment.UserName != "root", "root Bubblewrap; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("removal-race");
        var engine = busybox.Engine;
        using var done = new CancellationTokenSource();
        var reported = new List<string>();
        // What every Import-Module does (ReapOrphans), looked at as often as possible: any state folder
        // it lists as incomplete while removals run is a sandbox it would have reported as reaped.
        var reaper = Task.Run(() =>
        {
            while (!done.IsCancellationRequested)
                reported.AddRange(engine.Sandboxes.ListIncomplete(olderThan: TimeSpan.FromMinutes(1)));
        });
        try
        {
            for (var i = 0; i < 150; i++)
                engine.RemoveSandbox(engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap }));
        }
        finally
        {
            done.Cancel();
            reaper.Wait(TimeSpan.FromSeconds(30));
        }
        Assert.Empty(reported);
        Assert.Empty(engine.GetSandboxes());
    }

    [SkippableFact]
    public void A_removal_through_a_sandboxes_folder_swapped_for_a_link_deletes_nothing()
    {
        // Under sudo the store is the calling user's: between root's checks and the removal they can
        // swap sandboxes/ for a link to a folder of root's. Nothing may be moved or deleted through it.
        Skip.If(Environment.UserName != "root", "root Bubblewrap; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("removal-swapped-sandboxes");
        using var victim = new TemporaryFolder("removal-victim");
        var engine = busybox.Engine;
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        var precious = Path.Combine(victim.Path, sandbox.Id, "precious");
        Directory.CreateDirectory(Path.GetDirectoryName(precious)!);
        File.WriteAllText(precious, "root's\n");
        var sandboxes = engine.Layout.SandboxesFolder;
        Directory.Move(sandboxes, sandboxes + ".real");
        File.CreateSymbolicLink(sandboxes, victim.Path);
        try
        {
            var error = Assert.Throws<SandboxException>(() => engine.Sandboxes.Delete(Path.Combine(sandboxes, sandbox.Id)));
            Assert.Equal("UnsafeRemoval", error.ErrorId);
            Assert.Equal("root's\n", File.ReadAllText(precious));
        }
        finally
        {
            File.Delete(sandboxes);
            Directory.Move(sandboxes + ".real", sandboxes);
        }
        engine.RemoveSandbox(sandbox);
    }

    [SkippableFact]
    public void A_removal_with_the_trash_swapped_for_a_link_moves_nothing_into_it()
    {
        Skip.If(Environment.UserName != "root", "root Bubblewrap; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("removal-swapped-trash");
        using var victim = new TemporaryFolder("removal-trash-victim");
        var engine = busybox.Engine;
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        var trash = Path.Combine(busybox.Root, "trash");
        if (Directory.Exists(trash)) Directory.Delete(trash);
        File.CreateSymbolicLink(trash, victim.Path);

        var error = Assert.Throws<SandboxException>(() => engine.RemoveSandbox(sandbox));

        Assert.Equal("UnsafeRemoval", error.ErrorId);
        Assert.Empty(Directory.GetFileSystemEntries(victim.Path));
        Assert.True(File.Exists(Path.Combine(sandbox.StatePath, "state.json")), "the sandbox is still whole, to be removed once the store is safe");
        File.Delete(trash);
        engine.RemoveSandbox(sandbox);
    }

    [SkippableFact]
    public void A_bind_made_into_a_sandbox_is_undone_by_the_removal_itself_and_the_host_folder_is_kept()
    {
        Skip.If(Environment.UserName != "root", "root Bubblewrap and a bind mount; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("removal-bind-inside");
        using var host = new TemporaryFolder("removal-bind-host");
        File.WriteAllText(Path.Combine(host.Path, "precious.txt"), "precious\n");
        var engine = busybox.Engine;
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        Assert.Equal(0, engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "mkdir", "/mnt" } }).ExitCode); // mounts the overlay
        var point = Path.Combine(sandbox.StatePath, "upper", "mnt");
        RunAsRoot.Command("mount", "--bind", host.Path, point);
        try
        {
            Assert.False(Providers.OverlayUnmountInTrash.Applies(sandbox.StatePath), "a bind beside the overlay is the removal's to undo");
            engine.RemoveSandbox(sandbox);

            // Not left to the trash with the overlay: undone before the state folder moved.
            Assert.DoesNotContain(MountPoints(), p => p.StartsWith(busybox.Root + "/", StringComparison.Ordinal) && p.EndsWith("/upper/mnt", StringComparison.Ordinal));
            StoreTrash.WaitForPending(TimeSpan.FromMinutes(1));
            Assert.Equal("precious\n", File.ReadAllText(Path.Combine(host.Path, "precious.txt")));
            Assert.DoesNotContain(MountPoints(), p => p.StartsWith(busybox.Root + "/", StringComparison.Ordinal));
            Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(busybox.Root, "trash")));
        }
        finally
        {
            foreach (var left in MountTable.Under(MountTable.Read(), busybox.Root)) Native.LibC.umount2(left.Point, Native.LibC.MNT_DETACH);
        }
    }

    [SkippableFact]
    public void A_sandbox_folder_swapped_for_a_link_to_a_folder_with_a_mount_at_merged_leaves_that_mount_alone()
    {
        Skip.If(Environment.UserName != "root", "root Bubblewrap and a tmpfs; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("removal-swapped-merged");
        using var victim = new TemporaryFolder("removal-merged-victim");
        var engine = busybox.Engine;
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        Assert.Equal(0, engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "true" } }).ExitCode); // mounts the overlay
        var victimMerged = Path.Combine(victim.Path, "merged");
        Directory.CreateDirectory(victimMerged);
        RunAsRoot.Command("mount", "-t", "tmpfs", "-o", "size=1m", "removal-victim", victimMerged);
        try
        {
            // What a sudo caller can do to their own store while root removes: the state folder renamed
            // away, a link to another folder with a mount at merged/ (another store's sandbox) in its place.
            Directory.Move(sandbox.StatePath, sandbox.StatePath + ".away");
            File.CreateSymbolicLink(sandbox.StatePath, victim.Path);

            try { engine.RemoveSandbox(sandbox); }
            catch (SandboxException) { } // refused or not: what matters is what root touched

            StoreTrash.WaitForPending(TimeSpan.FromMinutes(1));
            Assert.Contains(MountTable.Read(), mount => mount.Point == victimMerged && mount.Source == "removal-victim");
        }
        finally
        {
            foreach (var folder in new[] { victim.Path, busybox.Root })
                foreach (var left in MountTable.Under(MountTable.Read(), folder)) Native.LibC.umount2(left.Point, Native.LibC.MNT_DETACH);
        }
    }

    private static IEnumerable<string> MountPoints() =>
        File.ReadLines("/proc/self/mountinfo").Select(line => line.Split(' ')[4]);
}
