using Sandbox.Native;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// A removal unmounts what is below the folder it removes by mount identity (HeldFolderMounts), never
/// by a path: under sudo the store is the caller's, who can swap a folder on a mount point's path for
/// a link to another sandbox's folder between the mount table's read and the unmount. Real tmpfs
/// mounts in a temporary folder, each undone in a finally.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class MountIdentityUnmountTests
{
    private const string RootOnly = "mounting needs root; run the tests as root (CI does).";

    [SkippableFact]
    public void A_path_swapped_for_a_link_to_another_sandbox_after_the_table_was_read_unmounts_nothing_there()
    {
        Skip.If(Environment.UserName != "root", RootOnly);
        using var mounts = new ScratchMounts("umount-swap");
        var (attacker, victim) = mounts.TwoSandboxes();
        var held = HoldFolder(attacker);
        try
        {
            // What the table said before the swap: the attacker's own mount, and the victim's.
            var attackersMount = mounts.At(Path.Combine(attacker, "state", "merged"));
            var victimsMount = mounts.At(Path.Combine(victim, "state", "merged"));
            // The swap: state/ renamed away, a link to the victim's state/ in its place.
            Directory.Move(Path.Combine(attacker, "state"), Path.Combine(attacker, "state.away"));
            File.CreateSymbolicLink(Path.Combine(attacker, "state"), Path.Combine(victim, "state"));

            Assert.Equal(HeldFolderMounts.Outcome.NotThere, HeldFolderMounts.UnmountAt(held, "state/merged", attackersMount.Id));
            Assert.Equal(HeldFolderMounts.Outcome.NotThere, HeldFolderMounts.UnmountAt(held, "state/merged", victimsMount.Id));

            Assert.True(mounts.IsMounted(victimsMount));
            Assert.True(mounts.IsMounted(attackersMount with { Point = Path.Combine(attacker, "state.away", "merged") }));
        }
        finally { OpenAt2.close(held); }
    }

    [SkippableFact]
    public void A_path_that_leads_to_another_mount_than_the_table_named_unmounts_neither()
    {
        Skip.If(Environment.UserName != "root", RootOnly);
        using var mounts = new ScratchMounts("umount-mismatch");
        var (attacker, victim) = mounts.TwoSandboxes();
        var held = HoldFolder(attacker);
        try
        {
            var attackersMount = mounts.At(Path.Combine(attacker, "state", "merged"));
            var victimsMount = mounts.At(Path.Combine(victim, "state", "merged"));

            // state/merged leads to the attacker's mount, not to the victim's the call names.
            Assert.Equal(HeldFolderMounts.Outcome.NotThere, HeldFolderMounts.UnmountAt(held, "state/merged", victimsMount.Id));
            Assert.True(mounts.IsMounted(victimsMount));
            Assert.True(mounts.IsMounted(attackersMount));

            // The same path with the ID it does lead to: that mount, and only it, is undone.
            Assert.Equal(HeldFolderMounts.Outcome.Unmounted, HeldFolderMounts.UnmountAt(held, "state/merged", attackersMount.Id));
            Assert.False(mounts.IsMounted(attackersMount));
            Assert.True(mounts.IsMounted(victimsMount));
        }
        finally { OpenAt2.close(held); }
    }

    [SkippableFact]
    public void The_sandbox_folder_itself_renamed_and_replaced_by_a_link_to_another_keeps_the_victims_mount()
    {
        Skip.If(Environment.UserName != "root", RootOnly);
        using var mounts = new ScratchMounts("umount-renamed");
        var (attacker, victim) = mounts.TwoSandboxes();
        var held = HoldFolder(attacker);
        try
        {
            var attackersMount = mounts.At(Path.Combine(attacker, "state", "merged"));
            var victimsMount = mounts.At(Path.Combine(victim, "state", "merged"));
            // sandboxes/<attacker> renamed away, a link to sandboxes/<victim> in its place: the held
            // folder is still the one removed, and its own mount is the one undone.
            Directory.Move(attacker, attacker + ".away");
            File.CreateSymbolicLink(attacker, victim);
            Assert.True(mounts.IsMounted(attackersMount with { Point = Path.Combine(attacker + ".away", "state", "merged") }));

            Assert.Empty(HeldFolderMounts.UnmountBelow(held, attacker));

            Assert.False(mounts.IsMounted(attackersMount with { Point = Path.Combine(attacker + ".away", "state", "merged") }));
            Assert.True(mounts.IsMounted(victimsMount));
        }
        finally { OpenAt2.close(held); }
    }

    /// <summary>
    /// The whole removal step against the race itself: while another thread keeps swapping the
    /// attacker's state/ for a link to the victim's and back, UnmountBelow runs again and again (the
    /// attacker's mount put back whenever it was undone, through a descriptor of its folder, so no
    /// path is involved). By path (the old UnmountBelow) one of the runs sooner or later read the table
    /// before a swap and unmounted after it, so the victim's overlay went; by identity it never does.
    /// A refusal (StoreUnsafe: the table showed a mount the path no longer leads to) is the expected
    /// answer of a run that met a swap.
    /// </summary>
    private const int Runs = 6000;
    private const int SwapHold = 500;

    [SkippableFact]
    public void While_a_folder_on_the_way_keeps_being_swapped_for_a_link_the_other_sandboxs_mount_is_never_unmounted()
    {
        Skip.If(Environment.UserName != "root", RootOnly);
        using var mounts = new ScratchMounts("umount-race");
        var (attacker, victim) = mounts.TwoSandboxes();
        var victimsMount = mounts.At(Path.Combine(victim, "state", "merged"));
        var state = Path.Combine(attacker, "state");
        var away = Path.Combine(attacker, "state.away");
        // The attacker's merged/ folder itself, held before anything is mounted on it, and its first mount undone.
        LibC.umount2(Path.Combine(state, "merged"), LibC.MNT_DETACH);
        var mergedFolder = HoldFolder(Path.Combine(state, "merged"));
        var mergedByDescriptor = "/proc/self/fd/" + mergedFolder;
        using var stop = new CancellationTokenSource();
        var swaps = 0;
        Exception? swapperFailed = null;
        var swapper = new Thread(() =>
        {
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    Directory.Move(state, away);
                    File.CreateSymbolicLink(state, Path.Combine(victim, "state"));
                    Thread.SpinWait(SwapHold); // each state held a moment, so a run more often reads in one and unmounts in the other
                    File.Delete(state);
                    Directory.Move(away, state);
                    Thread.SpinWait(SwapHold);
                    Interlocked.Increment(ref swaps);
                }
            }
            catch (Exception e) { swapperFailed = e; }
        });
        var runs = 0;
        var refusals = 0;
        var remounts = 0;
        try
        {
            swapper.Start();
            for (; runs < Runs && mounts.IsMounted(victimsMount); runs++)
            {
                if (mounts.Below(attacker).Count == 0)
                {
                    Assert.Equal(0, LibC.mount("sandbox-test-umount", mergedByDescriptor, "tmpfs", 0, "size=64k"));
                    remounts++;
                }
                try { SafeTreeRemover.UnmountBelow(attacker); }
                catch (SandboxException e) when (e.ErrorId == "UnsafeRemoval") { refusals++; }
            }
        }
        finally
        {
            stop.Cancel();
            swapper.Join();
            OpenAt2.close(mergedFolder);
        }

        Assert.True(mounts.IsMounted(victimsMount), $"the victim's mount was undone after {runs} runs, {swaps} swaps, {refusals} refusals");
        Assert.Null(swapperFailed);
        Assert.True(swaps > 0);
        Assert.True(remounts > 1, "UnmountBelow never undid the attacker's own mount: the race was not run");
    }

    /// <summary>
    /// The kernel fact the change answers: umount2 by path with UMOUNT_NOFOLLOW (what UnmountBelow did)
    /// follows a link in any component but the last, so the swap above made it unmount the victim's overlay.
    /// </summary>
    [SkippableFact]
    public void An_unmount_by_path_follows_a_folder_swapped_for_a_link_to_another_sandboxs_mount()
    {
        Skip.If(Environment.UserName != "root", RootOnly);
        using var mounts = new ScratchMounts("umount-kernel");
        var (attacker, victim) = mounts.TwoSandboxes();
        var victimsMount = mounts.At(Path.Combine(victim, "state", "merged"));
        Directory.Move(Path.Combine(attacker, "state"), Path.Combine(attacker, "state.away"));
        File.CreateSymbolicLink(Path.Combine(attacker, "state"), Path.Combine(victim, "state"));

        const int UMOUNT_NOFOLLOW = 8;
        Assert.Equal(0, LibC.umount2(Path.Combine(attacker, "state", "merged"), LibC.MNT_DETACH | UMOUNT_NOFOLLOW));

        Assert.False(mounts.IsMounted(victimsMount));
    }

    [SkippableFact]
    public void Stacked_mounts_a_mount_hidden_below_them_and_a_deep_mount_are_all_undone()
    {
        Skip.If(Environment.UserName != "root", RootOnly);
        using var mounts = new ScratchMounts("umount-stacked");
        var sandbox = Path.Combine(mounts.Store, "sandboxes", "a");
        var merged = Path.Combine(sandbox, "state", "merged");
        var deep = Path.Combine(new[] { sandbox }.Concat(Enumerable.Repeat("d", 40)).Append("m").ToArray());
        Directory.CreateDirectory(merged);
        Directory.CreateDirectory(deep);
        mounts.Mount(merged);                                // lower
        Directory.CreateDirectory(Path.Combine(merged, "inner"));
        mounts.Mount(Path.Combine(merged, "inner"));         // inside the lower, hidden once the upper is on
        mounts.Mount(merged);                                // upper, stacked on the lower
        mounts.Mount(deep);
        Assert.Equal(4, mounts.Below(sandbox).Count);

        SafeTreeRemover.UnmountBelow(sandbox);

        Assert.Empty(mounts.Below(sandbox));
    }

    [SkippableFact]
    public void A_folder_really_named_deleted_reached_through_its_descriptor_has_the_mount_below_it_undone()
    {
        Skip.If(Environment.UserName != "root", RootOnly);
        using var mounts = new ScratchMounts("umount-deleted-name");
        var folder = Path.Combine(mounts.Store, "x (deleted)");
        var mountPoint = Path.Combine(folder, "entry", "merged");
        Directory.CreateDirectory(mountPoint);
        mounts.Mount(mountPoint);
        var held = HoldFolder(folder);
        try
        {
            // What the trash does: the entry's path through the descriptor of the folder it is in.
            SafeTreeRemover.UnmountBelow(DescriptorPath.Of(held) + "/entry");

            Assert.Empty(mounts.Below(folder));
        }
        finally { OpenAt2.close(held); }
    }

    [SkippableFact]
    public void A_folder_really_named_deleted_whose_mount_cannot_be_reached_is_refused()
    {
        Skip.If(Environment.UserName != "root", RootOnly);
        using var mounts = new ScratchMounts("umount-deleted-refused");
        var folder = Path.Combine(mounts.Store, "x (deleted)");
        var entry = Path.Combine(folder, "entry");
        Directory.CreateDirectory(entry);
        // Two mounts stacked on the removed folder itself: the descriptor opened on it holds the upper
        // one, which is undone; the lower one no path from that descriptor reaches, so it is refused.
        mounts.Mount(entry);
        mounts.Mount(entry);
        var held = HoldFolder(folder);
        try
        {
            var error = Assert.Throws<SandboxException>(() => SafeTreeRemover.UnmountBelow(DescriptorPath.Of(held) + "/entry"));

            Assert.Equal("UnsafeRemoval", error.ErrorId);
            Assert.Contains("is still mounted", error.Message);
            Assert.Single(mounts.Below(folder));
        }
        finally { OpenAt2.close(held); }
    }

    [SkippableFact]
    public void A_descriptor_path_that_is_the_held_folder_itself_is_followed_to_it()
    {
        Skip.If(Environment.UserName != "root", RootOnly);
        using var mounts = new ScratchMounts("umount-descriptor");
        var folder = Path.Combine(mounts.Store, "entry");
        var mountPoint = Path.Combine(folder, "merged");
        Directory.CreateDirectory(mountPoint);
        mounts.Mount(mountPoint);
        var held = HoldFolder(folder);
        try
        {
            SafeTreeRemover.UnmountBelow(DescriptorPath.Of(held));

            Assert.Empty(mounts.Below(folder));
        }
        finally { OpenAt2.close(held); }
    }

    [SkippableFact]
    public void The_deletion_never_goes_through_a_bind_on_the_same_device_below_it_whatever_the_table_said()
    {
        Skip.If(Environment.UserName != "root", RootOnly);
        using var mounts = new ScratchMounts("umount-delete-bind");
        var (target, victim) = mounts.FolderWithBindOfVictim("sandboxes/abc/state/merged");

        // The deletion alone, as if the mount table had shown nothing (a name it misread, a rename
        // between its reading and the walk): the bind is on the same device as the tree.
        var sandbox = Path.GetDirectoryName(Path.GetDirectoryName(target))!;
        var error = Assert.Throws<SandboxException>(() => SafeTreeRemover.DeleteTree(sandbox));

        Assert.Equal("UnsafeRemoval", error.ErrorId);
        Assert.Contains("state/merged", error.Message);
        Assert.True(File.Exists(Path.Combine(victim, "file.txt")), "the bound folder's file is kept");
    }

    [SkippableFact]
    public void The_deletion_of_a_folder_that_is_itself_a_mount_point_is_refused()
    {
        Skip.If(Environment.UserName != "root", RootOnly);
        using var mounts = new ScratchMounts("umount-delete-root");
        var (target, victim) = mounts.FolderWithBindOfVictim("sandboxes/abc");

        var error = Assert.Throws<SandboxException>(() => SafeTreeRemover.DeleteTree(target));

        Assert.Equal("UnsafeRemoval", error.ErrorId);
        Assert.True(File.Exists(Path.Combine(victim, "file.txt")), "the bound folder's file is kept");
    }

    [SkippableFact]
    public void A_bind_below_a_store_whose_path_holds_a_carriage_return_is_undone_before_the_removal_deletes()
    {
        Skip.If(Environment.UserName != "root", RootOnly);
        // mountinfo writes a carriage return as it is; read as a line end, it hid every mount below.
        using var mounts = new ScratchMounts("umount-cr", storeName: "st\rore");
        var (target, victim) = mounts.FolderWithBindOfVictim("sandboxes/abc/state/merged");

        SafeTreeRemover.Remove(Path.GetDirectoryName(Path.GetDirectoryName(target))!, Path.Combine(mounts.Store, "sandboxes"));

        Assert.True(File.Exists(Path.Combine(victim, "file.txt")), "the bound folder's file is kept");
        Assert.False(Directory.Exists(Path.Combine(mounts.Store, "sandboxes", "abc")), "the sandbox folder is removed");
        Assert.Empty(mounts.Below(mounts.Store));
    }

    private static int HoldFolder(string path)
    {
        var fd = OpenAt2.Open(DirectoryCalls.AT_FDCWD, path, OpenAt2.O_PATH | OpenAt2.O_DIRECTORY, 0);
        Assert.True(fd >= 0, $"opening {path}: {LibC.ErrorText(-fd)}");
        return fd;
    }

    /// <summary>A temporary store folder whose tmpfs mounts are all detached when it is disposed.</summary>
    private sealed class ScratchMounts : IDisposable
    {
        private readonly TemporaryFolder _folder;

        public ScratchMounts(string purpose, string storeName = "store")
        {
            _folder = new TemporaryFolder(purpose);
            Store = Path.Combine(_folder.Path, storeName);
            Directory.CreateDirectory(Store);
        }

        /// <summary>
        /// A folder of the store with a bind of a victim folder (holding file.txt, on the same device) at
        /// <paramref name="bindAt"/> below the store; (the path bound to, the victim folder).
        /// </summary>
        public (string Target, string Victim) FolderWithBindOfVictim(string bindAt)
        {
            var victim = Path.Combine(_folder.Path, "victim");
            Directory.CreateDirectory(victim);
            File.WriteAllText(Path.Combine(victim, "file.txt"), "the host's");
            var point = Path.Combine(Store, bindAt);
            Directory.CreateDirectory(point);
            RunAsRoot.Command("mount", "--bind", victim, point);
            return (point, victim);
        }

        public string Store { get; }

        /// <summary>Two sandbox-like folders, each with a tmpfs at state/merged: (attacker, victim).</summary>
        public (string Attacker, string Victim) TwoSandboxes()
        {
            var attacker = Path.Combine(Store, "sandboxes", "attacker");
            var victim = Path.Combine(Store, "sandboxes", "victim");
            foreach (var sandbox in new[] { attacker, victim })
            {
                Directory.CreateDirectory(Path.Combine(sandbox, "state", "merged"));
                Mount(Path.Combine(sandbox, "state", "merged"));
            }
            return (attacker, victim);
        }

        public void Mount(string point) =>
            RunAsRoot.Command("mount", "-t", "tmpfs", "-o", "size=1m", "sandbox-test-umount", point);

        /// <summary>The top mount at <paramref name="point"/>, from the mount table.</summary>
        public MountEntry At(string point) => MountTable.Read().Last(entry => entry.Point == point);

        /// <summary>By ID and place: an ID freed by an unmount is soon given to a new mount elsewhere (another test's).</summary>
        public bool IsMounted(MountEntry mount) => MountTable.Read().Contains(mount);

        public IReadOnlyList<MountEntry> Below(string folder) => MountTable.Under(MountTable.Read(), folder);

        public void Dispose()
        {
            try
            {
                // Deepest first, each lazily; then again until none is left (a stack needs one pass per layer).
                for (var pass = 0; pass < 1000 && Below(_folder.Path).Count > 0; pass++)
                    foreach (var entry in Below(_folder.Path)) LibC.umount2(entry.Point, LibC.MNT_DETACH);
            }
            finally { _folder.Dispose(); }
        }
    }
}
