using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// What happens to a removed sandbox once it is in the store's trash (StoreTrash): root deletes it
/// through our descriptor by its own walk only (no rm after it), and a deletion that fails is said
/// as a warning; a mount left below an entry is undone before it is deleted; a failure of the
/// background work is a warning, never an exception in whatever waits for it next.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class TrashDeletionTests
{
    [SkippableFact]
    public void A_trash_entry_root_cannot_delete_is_reported_with_the_error_and_kept()
    {
        Skip.If(Environment.UserName != "root", "root Bubblewrap and chattr; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("trash-rm-fallback");
        var log = new RecordingLog();
        var engine = new SandboxEngine(new StoreLayout(busybox.Root), log);
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        // An immutable file: root's walk fails on it (EPERM), and there is no rm after it (rm would
        // cross a same-device bind moved into the tree): the failure is said, with the entry's path.
        var stuck = Path.Combine(sandbox.StatePath, "stuck");
        File.WriteAllText(stuck, "x");
        RunAsRoot.Command("chattr", "+i", stuck);
        var trash = Path.Combine(busybox.Root, "trash");
        try
        {
            engine.RemoveSandbox(sandbox);
            StoreTrash.WaitForPending(TimeSpan.FromMinutes(1));

            var warnings = log.Lines.Where(line => line.StartsWith("WARNING: ", StringComparison.Ordinal)).ToList();
            var warning = Assert.Single(warnings, line => line.Contains("Deleting the removed sandbox", StringComparison.Ordinal));
            Assert.Contains("Operation not permitted", warning); // the walk reached the file
            Assert.Contains(trash, warning);
            Assert.Single(Directory.GetDirectories(trash)); // its space is not free: said, not hidden
        }
        finally
        {
            RunAsRoot.Command("chattr", "-R", "-i", Directory.Exists(trash) ? trash : sandbox.StatePath);
        }
    }

    [SkippableFact]
    public void A_mount_left_below_a_dead_removers_trash_entry_is_undone_and_the_entry_deleted_by_the_sweep()
    {
        Skip.If(Environment.UserName != "root", "mounting needs root; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("trash-mount");
        var log = new RecordingLog();
        var engine = new SandboxEngine(new StoreLayout(busybox.Root), log);
        // What a remover killed (pid 999999999 never lives) while something was mounted in its entry left.
        var trash = Path.Combine(busybox.Root, "trash");
        var mountPoint = Path.Combine(trash, "s-999999999-1-deadbeef", "state", "merged");
        Directory.CreateDirectory(mountPoint);
        RunAsRoot.Command("mount", "-t", "tmpfs", "-o", "size=1m", "sandbox-test-trash", mountPoint);
        File.WriteAllText(Path.Combine(mountPoint, "inside"), "x");
        try
        {
            engine.Sandboxes.SweepTrash();

            Assert.Empty(MountPointsUnder(busybox.Root));
            Assert.Empty(Directory.GetFileSystemEntries(trash));
            Assert.DoesNotContain(log.Lines, line => line.StartsWith("WARNING: ", StringComparison.Ordinal));
        }
        finally
        {
            foreach (var point in MountPointsUnder(busybox.Root)) RunAsRoot.Command("umount", "--lazy", point);
        }
    }

    [Fact]
    public void A_failure_of_the_background_work_is_a_warning_and_waiting_for_it_never_throws()
    {
        using var folder = new TemporaryFolder("trash-background");
        var log = new RecordingLog();
        var trash = new StoreTrash(new StoreLayout(Path.Combine(folder.Path, "store")).EnsureCreated(), log);
        using var started = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        trash.RunInBackground(() =>
        {
            started.Set();
            release.Wait();
            File.ReadAllBytes(Path.Combine(folder.Path, "missing")); // a real failure: FileNotFoundException
        });
        started.Wait();

        // The work is still under way when the wait begins (it waits for the release), so the wait
        // meets its failure; a thread of its own, released once it waits.
        Exception? thrown = null;
        var waiter = new Thread(() =>
        {
            try { StoreTrash.WaitForPending(TimeSpan.FromMinutes(1)); }
            catch (Exception e) { thrown = e; }
        });
        waiter.Start();
        while ((waiter.ThreadState & ThreadState.WaitSleepJoin) == 0 && waiter.IsAlive) Thread.Sleep(1);
        release.Set();
        waiter.Join();

        Assert.Null(thrown);
        var warning = Assert.Single(log.Lines, line => line.StartsWith("WARNING: ", StringComparison.Ordinal));
        Assert.Contains("missing", warning);
    }

    private static List<string> MountPointsUnder(string root) =>
        File.ReadLines("/proc/self/mountinfo").Select(line => line.Split(' ')[4])
            .Where(point => point.StartsWith(root + "/", StringComparison.Ordinal))
            .OrderByDescending(point => point.Length).ToList();
}
