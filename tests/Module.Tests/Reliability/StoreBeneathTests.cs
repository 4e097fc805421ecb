using Sandbox.Images;
using Sandbox.Native;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Under sudo the store is the caller's (owned by them) while the engine runs as root. StoreRootGuard
/// proves only that nobody but the caller and root can change the store's path; the caller is exactly
/// who root must not trust. Between our check and our use they can rename a folder inside the store
/// (images, layers, an image's folder) away and put a link to a folder of root's in its place. These
/// tests win that race deterministically: the store is checked first (as every engine does), the
/// folder is then swapped for a link to a victim folder outside the store (root's, in a temporary
/// folder, never a real system folder), and only then is the engine's removal, rename or hand-over
/// called. By path (the old code) root deleted, moved or chowned the victim; reached beneath the
/// store root without links (StoreEntry) it is refused and the victim stays as it was.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class StoreBeneathTests
{
    [SkippableFact]
    public void Removing_an_image_folder_through_an_images_folder_swapped_for_a_link_deletes_nothing_outside_the_store()
    {
        using var store = CheckedStore("beneath-remove");
        Swap(store, "images");

        var error = Assert.Throws<SandboxException>(() =>
            SafeTreeRemover.Remove(Path.Combine(store.Root, "images", "dpkg"), Path.Combine(store.Root, "images")));

        Assert.Equal("UnsafeRemoval", error.ErrorId);
        AssertVictimIntact(store);
    }

    [SkippableFact]
    public void Removing_below_a_layer_folder_swapped_for_a_link_deletes_nothing_outside_the_store()
    {
        // Any folder on the way counts, not only the top-level ones the guard looks at: layers/<id> here.
        using var store = CheckedStore("beneath-remove-deep");
        var layer = Path.Combine(store.Root, "layers", "abc");
        Directory.CreateDirectory(layer);
        store.GiveToCaller(layer);
        store.SwapForLink(layer, store.Victims);

        var error = Assert.Throws<SandboxException>(() => SafeTreeRemover.Remove(Path.Combine(layer, "dpkg"), Path.Combine(store.Root, "layers")));

        Assert.Equal("UnsafeRemoval", error.ErrorId);
        AssertVictimIntact(store);
    }

    [SkippableFact]
    public void Remove_SandboxImage_through_an_images_folder_swapped_for_a_link_moves_and_deletes_nothing_outside_the_store()
    {
        using var store = CheckedStore("beneath-rename");
        var images = new ImageStore(new StoreLayout(store.Root), NullEngineLog.Instance);
        Swap(store, "images");

        // Renamed to .trash-dpkg-... and deleted, by path: through the link, /victims/dpkg.
        var error = Assert.Throws<SandboxException>(() => images.Remove("dpkg"));

        Assert.Equal("StoreEntryUnsafe", error.ErrorId);
        Assert.Contains("images", error.Message);
        AssertVictimIntact(store);
        Assert.Equal(new[] { "dpkg" }, Directory.GetFileSystemEntries(store.Victims).Select(Path.GetFileName));
    }

    [SkippableFact]
    public void A_lock_taken_through_a_locks_folder_swapped_for_a_link_creates_nothing_outside_the_store()
    {
        // O_NOFOLLOW guards only the lock file's own name: root followed the swapped locks/ and made the file there.
        using var store = CheckedStore("beneath-lock");
        Swap(store, "locks");

        FileLock? taken = null;
        var thrown = Record.Exception(() => taken = FileLock.Acquire(Path.Combine(store.Root, "locks", "image-x.lock")));
        taken?.Dispose();

        Assert.False(File.Exists(Path.Combine(store.Victims, "image-x.lock")), "root made a lock file outside the store");
        Assert.Equal("StoreEntryUnsafe", Assert.IsType<SandboxException>(thrown).ErrorId);
        AssertVictimIntact(store);
    }

    [SkippableFact]
    public void Handing_a_store_file_over_through_a_folder_swapped_for_a_link_changes_no_owner_outside_the_store()
    {
        using var store = CheckedStore("beneath-handover");
        Swap(store, "images");
        var caller = new SudoCaller(UnprivilegedUser.Name, store.Uid, store.Gid, "/nonexistent");

        // lchown guards only the last component: by path root gave the caller the victim's file.
        var error = Assert.Throws<SandboxException>(() => caller.HandOver(Path.Combine(store.Root, "images", "dpkg", "status")));

        Assert.Equal("StoreEntryUnsafe", error.ErrorId);
        AssertVictimIntact(store);
    }

    [SkippableFact]
    public void A_sandbox_layer_whose_scratch_folder_the_caller_made_a_link_makes_no_host_folder_world_writable()
    {
        // The state folder is the caller's (handed over), so they need no race at all to plant upper/tmp
        // -> a folder of root's before the provider makes the layer: by path, chmod 1777 followed it.
        using var store = CheckedStore("beneath-scratch");
        var state = Path.Combine(store.Root, "sandboxes", "sb1");
        Directory.CreateDirectory(Path.Combine(state, "upper"));
        File.CreateSymbolicLink(Path.Combine(state, "upper", "tmp"), Path.Combine(store.Victims, "dpkg"));
        store.GiveToCaller(state, recursive: true);
        var lower = Directory.CreateDirectory(Path.Combine(store.Root, "layers", "base")).FullName;
        var before = FileStatus.Of(Path.Combine(store.Victims, "dpkg"))!.Value.Permissions;

        var error = Assert.Throws<SandboxException>(() => new Providers.OverlayLayer(state, new[] { lower }, store.Root, userXattr: true).Create());

        Assert.Equal("StoreEntryUnsafe", error.ErrorId);
        Assert.Equal(before, FileStatus.Of(Path.Combine(store.Victims, "dpkg"))!.Value.Permissions);
        AssertVictimIntact(store);
    }

    [SkippableFact]
    public void Tightening_a_store_folder_swapped_for_a_link_after_the_check_changes_no_mode_outside_the_store()
    {
        // The caller opened their images folder (0755), the check read that mode, then the folder became a
        // link: by path, root's chmod applied 0700 to where the link leads.
        using var store = CheckedStore("beneath-tighten");
        var images = Path.Combine(store.Root, "images");
        File.SetUnixFileMode(images, (UnixFileMode)0b111_101_101);
        var seen = FileStatus.Of(images)!.Value;
        Swap(store, "images");
        var before = FileStatus.Of(store.Victims)!.Value.Permissions;

        PrivateFiles.Tighten(images, seen);

        Assert.Equal(before, FileStatus.Of(store.Victims)!.Value.Permissions);
        Assert.True(FileStatus.Of(images)!.Value.IsSymbolicLink);
        AssertVictimIntact(store);
    }

    [SkippableFact]
    public void Seeding_a_build_from_a_package_pool_swapped_for_a_link_deletes_nothing_outside_the_store()
    {
        // Seed drops every file of the pool that is not a cache entry: by path, through the link, every
        // file of the folder it led to (here the victim's status file; /etc's files just the same).
        using var store = CheckedStore("beneath-pool");
        var cache = Sandbox.Images.Packages.PackageCache.For(store.Root, new ImageBuildOptions { Suite = "bookworm", Architecture = "amd64" });
        Directory.CreateDirectory(cache.Folder);
        cache.EnsureCreated(); // its check (this test process is no sudo's: the pool is root's)
        Directory.Move(cache.Folder, cache.Folder + "-away");
        File.CreateSymbolicLink(cache.Folder, Path.Combine(store.Victims, "dpkg"));
        var seed = Path.Combine(store.Root, "images", "dpkg", "seed");

        var error = Assert.Throws<SandboxException>(() => cache.Seed(seed, NullEngineLog.Instance));

        Assert.Equal("StoreEntryUnsafe", error.ErrorId);
        AssertVictimIntact(store);
    }

    [SkippableFact]
    public void A_pool_entry_of_the_callers_is_offered_to_roots_build_as_roots_own_copy_which_the_caller_cannot_rewrite()
    {
        // A hard link into the build's seed folder shared the entry's inode: the caller, who owns the pool,
        // could rewrite it after root hashed it and before root's build installed it (apt trusts a cached
        // archive of the right size).
        using var store = CheckedStore("beneath-seed");
        var cache = Sandbox.Images.Packages.PackageCache.For(store.Root, new ImageBuildOptions { Suite = "bookworm", Architecture = "amd64" });
        Directory.CreateDirectory(cache.Folder);
        var content = "a package's bytes\n"u8.ToArray();
        var sha = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(content)).ToLowerInvariant();
        var entry = Path.Combine(cache.Folder, Sandbox.Images.Packages.DebFileName.EntryName(sha, "pkg_1.0_amd64.deb"));
        File.WriteAllBytes(entry, content);
        RunAsRoot.Command("chown", "-R", $"{store.Uid}:{store.Gid}", Path.Combine(store.Root, "cache"));
        var seed = Path.Combine(store.Root, "images", "dpkg", "seed");

        var offered = cache.Seed(seed, NullEngineLog.Instance);

        Assert.Contains("pkg_1.0_amd64.deb", offered);
        var offer = Path.Combine(seed, "pkg_1.0_amd64.deb");
        Assert.NotEqual(FileStatus.Of(entry)!.Value.Inode, FileStatus.Of(offer)!.Value.Inode);
        Assert.Equal(0u, FileStatus.Of(offer)!.Value.Uid);
        File.WriteAllText(entry, "rewritten by the caller\n"); // what the caller may do to their own file
        Assert.Equal(content, File.ReadAllBytes(offer));
    }

    [SkippableTheory]
    [InlineData(Sandbox.Images.Packages.PackageCache.MaxPackageBytes + 1)] // larger than any package
    [InlineData(256L << 20)] // a package's size, but sparse: many such entries cost the caller nothing
    public void A_sparse_pool_entry_of_the_callers_is_not_copied_into_roots_build(long size)
    {
        // Under sudo root copies the caller's entries into its build; a sparse file of terabytes under an
        // entry's name had root write every block of it (past the caller's quota) until the disk was full.
        using var store = CheckedStore("beneath-sparse");
        var cache = Sandbox.Images.Packages.PackageCache.For(store.Root, new ImageBuildOptions { Suite = "bookworm", Architecture = "amd64" });
        Directory.CreateDirectory(cache.Folder);
        var entry = Path.Combine(cache.Folder, Sandbox.Images.Packages.DebFileName.EntryName(new string('0', 64), "huge_1.0_amd64.deb"));
        using (var file = File.Create(entry)) file.SetLength(size); // sparse: no block written
        RunAsRoot.Command("chown", "-R", $"{store.Uid}:{store.Gid}", Path.Combine(store.Root, "cache"));
        var seed = Path.Combine(store.Root, "images", "dpkg", "seed");
        var writtenBefore = BytesThisThreadWrote();

        var offered = cache.Seed(seed, NullEngineLog.Instance);

        var written = BytesThisThreadWrote() - writtenBefore;
        Assert.DoesNotContain("huge_1.0_amd64.deb", offered);
        Assert.False(File.Exists(Path.Combine(seed, "huge_1.0_amd64.deb")), "a copy of the huge entry was left in the build");
        Assert.True(written < 64L << 20, $"root wrote {written} bytes while seeding the build from a sparse entry");
    }

    /// <summary>
    /// Bytes this thread passed to write(2) so far (its wchar): root's copy is made on the calling thread,
    /// and other test classes running beside this one write on threads of their own.
    /// </summary>
    private static long BytesThisThreadWrote() =>
        long.Parse(File.ReadAllLines("/proc/thread-self/io").Single(line => line.StartsWith("wchar:", StringComparison.Ordinal))["wchar:".Length..].Trim(),
            System.Globalization.CultureInfo.InvariantCulture);

    [SkippableFact]
    public void An_upper_folder_swapped_for_a_link_before_the_first_command_lets_the_sandbox_write_nothing_on_the_host()
    {
        // Root Bubblewrap mounts the sandbox's overlay on the host at its first command. The state folder
        // is the caller's under sudo: upper/ turned into a link to a folder of root's made that folder the
        // overlay's upper layer (overlayfs follows links in upperdir=), so what the sandbox wrote at / went there.
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var victims = new TemporaryFolder("beneath-mount-victim");
        var victim = Path.Combine(victims.Path, "status");
        File.WriteAllText(victim, "victim\n");
        using var busybox = new BusyboxStore("beneath-mount");
        var engine = busybox.Engine;
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        var upper = Path.Combine(sandbox.StatePath, "upper");
        Directory.Move(upper, upper + "-away");
        File.CreateSymbolicLink(upper, victims.Path);
        try
        {
            var error = Assert.ThrowsAny<Exception>(() => engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sh", "-c", "echo written > /status" } }));

            Assert.Contains("upper", error.Message);
            Assert.Equal("victim\n", File.ReadAllText(victim));
        }
        finally
        {
            engine.RemoveSandbox(sandbox); // unmounts first; the link is deleted as a link
        }
        Assert.Equal("victim\n", File.ReadAllText(victim));
    }

    [SkippableFact]
    public void A_store_this_process_made_is_checked_so_a_layer_swapped_for_a_link_in_it_is_refused()
    {
        // A root missing at the first check was never accepted once made: StoreEntry did not know it as a
        // store, so HeldStoreFolder took its paths as given and followed a layer swapped for a link (a first
        // Import then Export-SandboxImage under sudo exported the folder the link led to).
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        using var folder = new TemporaryFolder("beneath-new-store");
        var victims = Directory.CreateDirectory(Path.Combine(folder.Path, "victims")).FullName;
        var layout = new StoreLayout(Path.Combine(folder.Path, "new", "store")).EnsureCreated();
        var layer = Path.Combine(layout.LayersFolder, "abc");
        File.CreateSymbolicLink(layer, victims);

        var error = Record.Exception(() => HeldStoreFolder.Open(Path.Combine(layer, "tree")).Dispose());

        Assert.Equal("StoreEntryUnsafe", Assert.IsType<SandboxException>(error).ErrorId);
    }

    [SkippableFact]
    public void Store_entries_reached_beneath_the_root_are_still_handed_over_moved_and_removed()
    {
        // The same calls on the store as it should be: the refusals above are not all the new code does.
        using var store = CheckedStore("beneath-works");
        var image = Path.Combine(store.Root, "images", "app");
        Directory.CreateDirectory(Path.Combine(image, "rootfs", "etc"));
        File.WriteAllText(Path.Combine(image, "rootfs", "etc", "hostname"), "app\n");
        File.CreateSymbolicLink(Path.Combine(image, "rootfs", "victims"), store.Victims);
        var caller = new SudoCaller(UnprivilegedUser.Name, store.Uid, store.Gid, "/nonexistent");

        File.SetUnixFileMode(image, (UnixFileMode)0b111_101_101);
        PrivateFiles.Tighten(image);
        var tightened = FileStatus.Of(image)!.Value.Permissions;
        caller.HandOver(Path.Combine(image, "rootfs", "etc", "hostname"));
        caller.HandOver(Path.Combine(image, "rootfs", "victims")); // the link itself, not where it leads
        StoreEntry.Move(image, Path.Combine(store.Root, "images", ".trash-app"), Path.Combine(store.Root, "images"));
        var moved = Path.Combine(store.Root, "images", ".trash-app");
        var owner = FileStatus.Of(Path.Combine(moved, "rootfs", "etc", "hostname"))!.Value.Uid;
        var linkOwner = FileStatus.Of(Path.Combine(moved, "rootfs", "victims"))!.Value.Uid;
        SafeTreeRemover.Remove(moved, Path.Combine(store.Root, "images"));

        Assert.Equal(0b111_000_000u, tightened);
        Assert.Equal((uint)store.Uid, owner);
        Assert.Equal((uint)store.Uid, linkOwner);
        Assert.False(Directory.Exists(image));
        Assert.False(Directory.Exists(moved));
        AssertVictimIntact(store);
    }

    private const string VictimText = "victim's own file\n";

    /// <summary>
    /// A store of the caller's laid out as in use (the caller's own folders, an image "dpkg"), checked
    /// by StoreRootGuard as the engine checks it, and a victim's file of root's, victims/dpkg/status.
    /// </summary>
    private static SudoCallersStore CheckedStore(string purpose)
    {
        var store = SudoCallersStore.Make(purpose);
        try
        {
            foreach (var folder in new[] { "images", "layers", "locks", "sandboxes", "trash" })
                Directory.CreateDirectory(Path.Combine(store.Root, folder));
            Directory.CreateDirectory(Path.Combine(store.Root, "images", "dpkg"));
            store.GiveToCaller(store.Root, recursive: true);
            Directory.CreateDirectory(Path.Combine(store.Victims, "dpkg"));
            File.WriteAllText(Path.Combine(store.Victims, "dpkg", "status"), VictimText);
            // What every engine does first: the store is the caller's, and only they and root can change its path.
            StoreRootGuard.Verify(store.Root, (uint)store.Uid, engineIsRoot: true);
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>The caller's move, after the check: the store's <paramref name="folder"/> renamed away and a link to the victims in its place.</summary>
    private static void Swap(SudoCallersStore store, string folder) => store.SwapForLink(Path.Combine(store.Root, folder), store.Victims);

    private static void AssertVictimIntact(SudoCallersStore store)
    {
        var file = Path.Combine(store.Victims, "dpkg", "status");
        Assert.True(File.Exists(file), $"{file} outside the store was deleted");
        Assert.Equal(VictimText, File.ReadAllText(file));
        Assert.Equal(0u, FileStatus.Of(file)!.Value.Uid);
        Assert.Equal(0u, FileStatus.Of(Path.Combine(store.Victims, "dpkg"))!.Value.Uid);
    }
}
