using System.Diagnostics;
using Sandbox.Native;
using Sandbox.Processes;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests;

/// <summary>
/// The image store's bookkeeping with the busybox tree (fast, no mirror): a killed import and its
/// immediate retry, abandoned staging swept on reap, lock files only for images that exist, empty
/// import sources and unknown export formats refused.
/// </summary>
[Trait("Area", "Images")]
[Trait("User", "Root")]
public sealed class ImageStoreTests
{
    [SkippableFact]
    public void A_user_importing_the_same_tarball_twice_with_files_of_other_owners_gets_both_images()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        UnprivilegedUser.Ensure();
        using var folder = new TemporaryFolder("reimport");
        var tree = BusyboxTree.Create(Path.Combine(folder.Path, "tree"));
        // A file of another user in a folder its owner cannot write: rootless, both are the user's
        // subordinate ids on disk, which only an rm in their user namespace can delete.
        var home = Directory.CreateDirectory(Path.Combine(tree, "home", "bob")).FullName;
        File.WriteAllText(Path.Combine(home, ".bashrc"), "PS1='$ '\n");
        RunAsRoot.Command("chown", "-R", "1000:1000", home);
        RunAsRoot.Command("chmod", "0555", home);
        var tarball = Path.Combine(folder.Path, "tree.tar");
        RunAsRoot.Command("tar", "--create", "--file", tarball, "--directory", tree, "--numeric-owner", ".");
        using var user = new RemoteHarness();

        user.Import("first", tarball);
        // The same content again: its layer is there already, so the new staging copy is deleted.
        var second = user.Import("second", tarball);

        Assert.Equal("second", second.Name);
        Assert.Empty(Directory.GetDirectories(Path.Combine(user.StoreRoot, "images"), ".*"));
        Assert.Empty(Directory.GetDirectories(Path.Combine(user.StoreRoot, "layers"), ".*"));
    }

    [SkippableFact]
    public void A_killed_import_leaves_no_copy_running_and_an_immediate_retry_succeeds()
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        using var folder = new TemporaryFolder("killed-import");
        var tree = BusyboxTree.Create(Path.Combine(folder.Path, "tree"));
        // Enough files that the copy is still running when the owner is killed.
        var bulk = Path.Combine(tree, "data", "bulk");
        Directory.CreateDirectory(bulk);
        var block = new byte[4096];
        for (var i = 0; i < 20_000; i++) File.WriteAllBytes(Path.Combine(bulk, $"f{i}"), block);
        var storeRoot = Path.Combine(folder.Path, "store");
        var staging = Path.Combine(storeRoot, "images", ".staging-big-");
        var owner = new RemoteHarness(asRoot: true, sharedStore: storeRoot);
        // As root the cp is given the held staging folder's descriptor name (HeldStagingFolder), /proc/PID/fd/N of its owner.
        var ownersFolders = $"/proc/{owner.HostPid}/fd/";
        try
        {
            var import = Task.Run(() => owner.Import("big", tree));
            Assert.True(Poll.Until(() => Copiers(ownersFolders).Count > 0, TimeSpan.FromSeconds(60)), "the copy started");
            // Freeze the copy so it cannot finish before its owner dies; then kill -9 the owner.
            foreach (var pid in Copiers(ownersFolders)) LibC.kill(pid, 19 /* SIGSTOP */);
            owner.KillHost();
            owner.Dispose();
            Assert.ThrowsAny<Exception>(() => import.GetAwaiter().GetResult());
            // The copy died with its owner (even stopped: SIGKILL needs no scheduling).
            Assert.True(Poll.Until(() => Copiers(ownersFolders).Count == 0, TimeSpan.FromSeconds(10)), "no cp outlives the killed owner");

            var image = new SandboxEngine(new StoreLayout(storeRoot)).Images.Import("big", tree, force: false);

            Assert.Equal(20_000, Directory.GetFiles(Path.Combine(image.RootFs, "data", "bulk")).Length);
            Assert.Empty(Copiers(staging));
            Assert.Empty(Copiers(ownersFolders));
            Assert.Empty(Directory.GetDirectories(Path.Combine(storeRoot, "images"), ".*"));
        }
        finally
        {
            foreach (var pid in Copiers(ownersFolders)) LibC.kill(pid, LibC.SIGKILL);
        }
    }

    [SkippableFact]
    public void A_retry_kills_what_still_writes_into_a_dead_owners_staging_and_succeeds()
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        using var store = new BusyboxStore("retry-writer");
        var tree = store.Engine.Images.Get(HarnessFixture.ImageName).RootFs;
        using var gone = Process.Start("true")!;
        gone.WaitForExit();
        var staging = Path.Combine(store.Engine.Layout.ImagesFolder, $".staging-again-{gone.Id}-1-0123abcd");
        Directory.CreateDirectory(Path.Combine(staging, "rootfs"));
        // An orphaned writer, as a tar -C or cp of an older version would be: it works in the folder
        // (and holds a file open there) and keeps filling it. Found by what it holds, not its text.
        using var writer = Process.Start(new ProcessStartInfo("sh")
        {
            ArgumentList = { "-c", "cd \"$0/rootfs\" && exec 3>held && while :; do mkdir -p \"w$$\" && touch \"w$$/f\"; done", staging },
        })!;
        try
        {
            // Only once the writer works in the folder is it a leftover the retry must find: started
            // after the retry's look, it would live on in a deleted folder and prove nothing.
            Assert.True(Poll.Until(() => File.Exists(Path.Combine(staging, "rootfs", "held")), TimeSpan.FromSeconds(30)),
                "the writer started working in the staging folder");
            var image = new SandboxEngine(store.Engine.Layout).Images.Import("again", tree, force: false);

            Assert.True(File.Exists(Path.Combine(image.RootFs, "bin", "busybox")));
            Assert.True(writer.WaitForExit(10_000), "the leftover writer was killed");
            Assert.False(Directory.Exists(staging));
        }
        finally
        {
            if (!writer.HasExited) writer.Kill();
        }
    }

    private static IReadOnlyList<int> Copiers(string mentioned) =>
        HostProcesses.Mentioning(mentioned).Where(pid => ProcessIdentity.StatFieldsAfterName(pid) is { } f && f[0] != "Z").ToList();

    [SkippableFact]
    public void Reaping_sweeps_abandoned_staging_of_any_name_but_not_a_live_build()
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        using var store = new BusyboxStore("sweep");
        var images = store.Engine.Layout.ImagesFolder;
        using var gone = Process.Start("true")!;
        gone.WaitForExit();
        var dead = Path.Combine(images, $".staging-ghost-{gone.Id}-1-0123abcd");
        var legacy = Path.Combine(images, $".staging-legacy-{Guid.NewGuid():N}");
        var self = ProcessIdentity.Current;
        var live = Path.Combine(images, $".staging-live-{self.Pid}-{self.StartTicks}-abcdef01");
        foreach (var leftover in new[] { dead, legacy, live })
        {
            Directory.CreateDirectory(Path.Combine(leftover, "rootfs", "bin"));
            File.WriteAllText(Path.Combine(leftover, "rootfs", "bin", "sh"), "x");
        }

        new SandboxEngine(store.Engine.Layout).ReapOrphans();

        Assert.False(Directory.Exists(dead));
        Assert.False(Directory.Exists(legacy));
        Assert.True(Directory.Exists(live), "a staging folder whose owner is alive is a build under way");
        Assert.Equal(new[] { "image-testimage.lock" }, LockFiles(store.Engine.Layout).Where(f => f.StartsWith("image-")));
    }

    [SkippableFact]
    public void Lock_files_exist_only_for_images_that_exist()
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        using var store = new BusyboxStore("locks");
        var engine = store.Engine;
        using var empty = new TemporaryFolder("locks-empty");

        Assert.Equal("ImageNotFound", Assert.Throws<SandboxException>(() => engine.RemoveImage("typo", force: false)).ErrorId);
        Assert.Equal("ImageSourceEmpty", Assert.Throws<SandboxException>(() => engine.Images.Import("nothing", empty.Path, force: false)).ErrorId);
        Assert.Equal(new[] { "image-testimage.lock" }, LockFiles(engine.Layout).Where(f => f.StartsWith("image-")));

        engine.RemoveImage(HarnessFixture.ImageName, force: false);
        Assert.DoesNotContain(LockFiles(engine.Layout), f => f.StartsWith("image-"));
    }

    private static IEnumerable<string> LockFiles(StoreLayout layout) =>
        Directory.GetFiles(layout.LocksFolder).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal);

    [SkippableFact]
    public void An_empty_folder_or_a_tree_without_bin_is_not_an_image()
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        using var folder = new TemporaryFolder("empty-import");
        var empty = Directory.CreateDirectory(Path.Combine(folder.Path, "empty")).FullName;
        var noBin = Directory.CreateDirectory(Path.Combine(folder.Path, "nobin", "etc")).Parent!.FullName;
        File.WriteAllText(Path.Combine(noBin, "etc", "hostname"), "x\n");
        var engine = new SandboxEngine(new StoreLayout(Path.Combine(folder.Path, "store")));

        foreach (var (source, why) in new[] { (empty, "no files"), (noBin, "no /bin") })
        {
            var error = Assert.Throws<SandboxException>(() => engine.Images.Import("bad", source, force: false));
            Assert.Equal("ImageSourceEmpty", error.ErrorId);
            Assert.Contains(why, error.Message);
        }
        Assert.Empty(engine.Images.List());
        Assert.Empty(Directory.GetDirectories(engine.Layout.ImagesFolder, ".*"));
    }

    [SkippableFact]
    public void Export_refuses_a_name_tar_would_write_uncompressed_under()
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        using var store = new BusyboxStore("export-suffix");
        using var output = new TemporaryFolder("export-out");

        foreach (var name in new[] { "x.zip", "x.tar.bz", "x" })
        {
            var target = Path.Combine(output.Path, name);
            var error = Assert.Throws<SandboxException>(() => store.Engine.Images.Export(HarnessFixture.ImageName, target, force: false));
            Assert.Equal("ExportFormatUnknown", error.ErrorId);
            Assert.Contains(".tar.zst", error.Message);
            Assert.False(File.Exists(target));
        }
        var tgz = store.Engine.Images.Export(HarnessFixture.ImageName, Path.Combine(output.Path, "x.tgz"), force: false);
        Assert.Equal(new byte[] { 0x1f, 0x8b }, File.ReadAllBytes(tgz.FullName)[..2]); // gzip, as the name says
    }
}
