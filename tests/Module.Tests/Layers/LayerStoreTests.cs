using Sandbox.Images.Layers;
using Sandbox.Native;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Layers;

/// <summary>
/// The layer store as root with Bubblewrap (busybox images): one layer format (root's trusted.*
/// markers normalised, redirects refused), exports of derived images flattened and imported back
/// identical, removal refused while something stands on an image and -Force naming what it took,
/// an interrupted commit leaving nothing that looks valid, and hostile uppers copied without
/// following anything.
/// </summary>
[Trait("Area", "Layers")]
[Trait("User", "Root")]
public sealed class LayerStoreTests
{
    private const string Base = "base";

    private const string Changes =
        "set -e; echo added > /data/added.txt; echo modified > /data/file.txt; rm /data/delete-me.txt; " +
        "rm -r /data/nested; mkdir /data/nested; echo only > /data/nested/only.txt; chown 1234:2345 /data/append.txt";

    private static InProcessHarness NewStore(TemporaryFolder scratch)
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        var harness = new InProcessHarness();
        harness.Import(Base, BusyboxTree.Create(Path.Combine(scratch.Path, "rootfs")));
        return harness;
    }

    private static SandboxInfo Sandbox(ISandboxHarness harness, string image) =>
        harness.Create(new SandboxCreateOptions { Image = image, Provider = ProviderName.Bubblewrap });

    private static string Run(ISandboxHarness harness, SandboxInfo sandbox, string script)
    {
        var result = harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", script } });
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}: {result.StdErr}");
        return result.StdOut;
    }

    private static SandboxImage Derive(ISandboxHarness harness, string parent, string name, string script)
    {
        var sandbox = Sandbox(harness, parent);
        Run(harness, sandbox, script);
        var image = harness.Commit(sandbox.Id, name);
        harness.Remove(sandbox.Id);
        return image;
    }

    /// <summary>
    /// A step's sparse file (`dd seek=`) takes a few KB in its upper layer; read as data by the
    /// commit it took its whole apparent size on the host's disk (100 GB filled the disk in minutes).
    /// </summary>
    [SkippableFact]
    public void A_sparse_file_stays_sparse_in_the_committed_layer_and_keeps_its_size_inside()
    {
        using var scratch = new TemporaryFolder("layer-sparse");
        using var harness = NewStore(scratch);
        const long apparent = 8L << 30; // 8 GiB, about 4 KB on disk
        var image = Derive(harness, Base, "sparse", $"dd if=/dev/zero of=/sparse bs=1 count=1 seek={apparent - 1} 2>/dev/null");

        var status = FileStatus.Of(Path.Combine(image.RootFs, "sparse")) ?? throw new Xunit.Sdk.XunitException("no /sparse in the layer");
        Assert.Equal((ulong)apparent, status.Size);
        Assert.True(status.Blocks * 512 < 1 << 20, $"the layer's copy takes {status.Blocks * 512} bytes on disk");
        var sandbox = Sandbox(harness, "sparse");
        Assert.Equal($"{apparent}\n", Run(harness, sandbox, "stat -c %s /sparse"));
        harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void A_layer_is_in_the_one_format_whiteouts_as_devices_and_opaque_folders_in_user_xattrs()
    {
        using var scratch = new TemporaryFolder("layer-format");
        using var harness = NewStore(scratch);
        var image = Derive(harness, Base, "derived", Changes);
        var tree = image.RootFs;
        Assert.True(FileStatus.Of(Path.Combine(tree, "data/delete-me.txt")) is { IsWhiteout: true }, "the deleted file is a 0/0 whiteout");
        Assert.Equal("y", OverlayMarkers.Get(Path.Combine(tree, "data/nested"), OverlayMarkers.Opaque));
        Assert.DoesNotContain(LayerListing.Of(tree), line => line.Contains("xattr:trusted.", StringComparison.Ordinal));
        // The layer folder is as private as an image: 0700 store folders around it.
        Assert.Equal(0b111_000_000u, FileStatus.Of(harness.Engine.Layout.LayersFolder)!.Value.Permissions & 0b111_111_111);
    }

    [SkippableFact]
    public void Roots_trusted_overlay_markers_are_normalised_and_a_redirect_is_refused()
    {
        using var scratch = new TemporaryFolder("layer-normalise");
        using var harness = NewStore(scratch);
        var sandbox = Sandbox(harness, Base);
        Run(harness, sandbox, "mkdir /data/replaced && echo x > /data/replaced/f && echo y > /data/origin.txt");
        // What an older version's root overlay (no userxattr) leaves in its upper layer.
        var upper = Path.Combine(((ISandboxHarness)harness).StateFolder(sandbox.Id), "upper");
        Set(Path.Combine(upper, "data/replaced"), "trusted.overlay.opaque", "y");
        Set(Path.Combine(upper, "data/origin.txt"), "trusted.overlay.origin", "\u0001");
        Set(Path.Combine(upper, "data"), "trusted.overlay.impure", "y");
        Set(Path.Combine(upper, "data"), "user.overlay.impure", "y");
        Set(Path.Combine(upper, "data/origin.txt"), "user.keep", "kept");

        var image = harness.Commit(sandbox.Id, "normalised");

        var listing = LayerListing.Of(image.RootFs);
        Assert.Equal("y", OverlayMarkers.Get(Path.Combine(image.RootFs, "data/replaced"), OverlayMarkers.Opaque));
        Assert.DoesNotContain(listing, line => line.Contains("trusted.overlay", StringComparison.Ordinal) || line.Contains("impure", StringComparison.Ordinal)
                                                || line.Contains("origin=", StringComparison.Ordinal));
        Assert.Equal("kept", OverlayMarkers.Get(Path.Combine(image.RootFs, "data/origin.txt"), "user.keep"));
        // The opaque marker means it: the parent's /data files are hidden only under data/replaced.
        var fresh = Sandbox(harness, "normalised");
        Assert.Equal("f\n", Run(harness, fresh, "ls /data/replaced"));

        Set(Path.Combine(upper, "data/replaced"), "trusted.overlay.redirect", "/elsewhere");
        var refused = Assert.Throws<SandboxException>(() => harness.Commit(sandbox.Id, "redirected"));
        Assert.Equal("LayerNotPortable", refused.ErrorId);
        Assert.Null(harness.Engine.Images.TryGet("redirected"));
        Assert.Empty(Directory.GetDirectories(harness.Engine.Layout.LayersFolder, ".*"));
    }

    [SkippableFact]
    public void An_export_of_a_derived_image_is_its_flattened_tree_and_imports_back_identical()
    {
        using var scratch = new TemporaryFolder("layer-export");
        using var harness = NewStore(scratch);
        Derive(harness, Base, "middle", "echo middle > /data/middle.txt; rm /data/link");
        var image = Derive(harness, "middle", "top", Changes);

        // The expected tree: the base with both steps applied directly (chroot, as root), and the
        // scratch folders the sandbox's layer makes 1777.
        var expected = Path.Combine(scratch.Path, "expected");
        RunAsRoot.Command("cp", "-a", ((ISandboxHarness)harness).ImageRootFs(Base), expected);
        RunAsRoot.Command("chroot", expected, "/bin/sh", "-c", "echo middle > /data/middle.txt; rm /data/link; " + Changes + "; chmod 1777 /tmp /var/tmp");

        var tarball = Path.Combine(scratch.Path, "top.tar");
        harness.Engine.Images.Export("top", tarball, force: false);
        var back = harness.Engine.Images.Import("back", tarball, force: false);

        var listing = LayerListing.Of(back.RootFs);
        Assert.Equal(LayerListing.Of(expected), listing);
        Assert.DoesNotContain(listing, line => line.Contains("dev=0:0", StringComparison.Ordinal) || line.Contains(".overlay.", StringComparison.Ordinal));
        Assert.Equal(3, image.Layers.Count);
        Assert.Equal(new[] { "top", "middle", Base }, image.Chain);
    }

    [SkippableFact]
    public void Removing_an_image_is_refused_while_derived_images_or_sandboxes_use_it_and_force_names_what_it_removed()
    {
        using var scratch = new TemporaryFolder("layer-remove");
        using var harness = NewStore(scratch);
        Derive(harness, Base, "child", "echo child > /child");
        Derive(harness, "child", "grandchild", "echo grandchild > /grandchild");
        var user = Sandbox(harness, "child");
        // The same tree imported under another name shares the base's layer but is not derived from it.
        var twin = harness.Engine.Images.Import("twin", Path.Combine(scratch.Path, "rootfs"), force: false);
        Assert.Equal(harness.Engine.Images.Get(Base).Id, twin.Id);

        var refused = Assert.Throws<SandboxException>(() => harness.Engine.RemoveImage(Base, force: false));
        Assert.Equal("ImageInUse", refused.ErrorId);
        Assert.Contains("'child'", refused.Message);
        Assert.Contains("'grandchild'", refused.Message);
        Assert.Contains($"'{user.Name}'", refused.Message);
        Assert.NotNull(harness.Engine.Images.TryGet(Base));

        var removed = harness.Engine.RemoveImage(Base, force: true);

        Assert.Equal(3, removed.Count);
        Assert.DoesNotContain(removed, line => line.Contains("twin", StringComparison.Ordinal));
        Assert.Contains(removed, line => line.Contains($"sandbox '{user.Name}'", StringComparison.Ordinal));
        Assert.Contains(removed, line => line.Contains("image 'child'", StringComparison.Ordinal));
        Assert.Contains(removed, line => line.Contains("image 'grandchild'", StringComparison.Ordinal));
        Assert.Equal(new[] { "twin" }, harness.Engine.Images.List().Select(i => i.Name));
        Assert.Empty(harness.Engine.GetSandboxes());
        // The derived images' layers went with them; the shared base layer stays for the twin.
        Assert.Equal(new[] { twin.Id }, Directory.GetDirectories(harness.Engine.Layout.LayersFolder).Select(Path.GetFileName));
        Assert.Equal("original content\n", Run(harness, Sandbox(harness, "twin"), "cat /data/file.txt"));
    }

    [SkippableFact]
    public void A_rebuilt_parent_does_not_change_a_derived_image_or_a_sandbox_made_before()
    {
        using var scratch = new TemporaryFolder("layer-rebuild");
        using var harness = NewStore(scratch);
        Derive(harness, Base, "child", "echo child > /child");
        var before = Sandbox(harness, Base);
        var tree = BusyboxTree.Create(Path.Combine(scratch.Path, "other"));
        File.WriteAllText(Path.Combine(tree, "data/file.txt"), "rebuilt\n");
        harness.Engine.Images.Import(Base, tree, force: true);
        harness.Engine.ReapOrphans(); // collects unreferenced layers: the old base is still referenced

        Assert.Equal("original content\n", Run(harness, before, "cat /data/file.txt"));
        var child = Sandbox(harness, "child");
        Assert.Equal("original content\nchild\n", Run(harness, child, "cat /data/file.txt /child"));
        Assert.Equal("rebuilt\n", Run(harness, Sandbox(harness, Base), "cat /data/file.txt"));
    }

    [SkippableFact]
    public void A_commit_whose_owner_is_killed_mid_copy_leaves_no_image_and_the_next_reap_sweeps_its_staging()
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        using var scratch = new TemporaryFolder("layer-killed");
        var storeRoot = Path.Combine(scratch.Path, "store");
        var layers = Path.Combine(storeRoot, "layers");
        var owner = new RemoteHarness(asRoot: true, sharedStore: storeRoot);
        // As root the copy is given the held staging folder's descriptor name (HeldStagingFolder), /proc/PID/fd/N of its owner.
        var staging = $"/proc/{owner.HostPid}/fd/";
        try
        {
            owner.Import(Base, BusyboxTree.Create(Path.Combine(scratch.Path, "rootfs")));
            var sandbox = owner.Create(new SandboxCreateOptions { Image = Base, Provider = ProviderName.Bubblewrap, Keep = true });
            var bulk = owner.Invoke(sandbox.Id, new SandboxCommand
            {
                Argv = new[] { "sh", "-c", "mkdir /bulk && cd /bulk && i=0; while [ $i -lt 20000 ]; do echo $i > f$i; i=$((i+1)); done" },
            });
            Assert.Equal(0, bulk.ExitCode);
            owner.StartCommit(sandbox.Id, "snap");
            Assert.True(Poll.Until(() => Copiers(staging).Count > 0, TimeSpan.FromSeconds(60)), "the copy started");
            foreach (var pid in Copiers(staging)) LibC.kill(pid, 19 /* SIGSTOP */);
            owner.KillHost();
            Assert.True(Poll.Until(() => Copiers(staging).Count == 0, TimeSpan.FromSeconds(10)), "no copy outlives the killed owner");

            var engine = new SandboxEngine(new StoreLayout(storeRoot));
            Assert.Null(engine.Images.TryGet("snap"));
            Assert.Single(Directory.GetDirectories(layers), folder => !Path.GetFileName(folder).StartsWith('.')); // the base's only
            engine.ReapOrphans();
            Assert.Empty(Directory.GetDirectories(layers, ".*"));
            Assert.Single(Directory.GetDirectories(layers));
            engine.RemoveSandbox(engine.GetSandbox(sandbox.Id));
        }
        finally
        {
            foreach (var pid in Copiers(staging)) LibC.kill(pid, LibC.SIGKILL);
            owner.Dispose();
        }
    }

    [SkippableFact]
    public void A_hostile_upper_is_copied_as_entries_never_followed_and_its_setuid_files_stay_inside_the_private_store()
    {
        using var scratch = new TemporaryFolder("layer-hostile");
        using var harness = NewStore(scratch);
        var hostTarget = Path.Combine(scratch.Path, "host-target");
        Directory.CreateDirectory(hostTarget);
        var sandbox = Sandbox(harness, Base);
        Run(harness, sandbox,
            $"ln -s {hostTarget} /data/out; ln -s /etc/shadow /data/shadow; ln -s / /data/root; mkfifo /data/fifo; " +
            "cp /bin/busybox /data/suid && chmod 4755 /data/suid; mkdir -p /data/out2 && ln -s ../../../../../../.. /data/out2/up");

        var image = harness.Commit(sandbox.Id, "hostile");

        var tree = image.RootFs;
        Assert.Empty(Directory.EnumerateFileSystemEntries(hostTarget));
        Assert.Equal(hostTarget, new FileInfo(Path.Combine(tree, "data/out")).LinkTarget);
        Assert.Equal("/etc/shadow", new FileInfo(Path.Combine(tree, "data/shadow")).LinkTarget);
        Assert.True(FileStatus.Of(Path.Combine(tree, "data/fifo")) is { } fifo && (fifo.Mode & 0xF000) == 0x1000, "the FIFO is a FIFO");
        Assert.Equal(0b100_111_101_101u, FileStatus.Of(Path.Combine(tree, "data/suid"))!.Value.Permissions & 0b111_111_111_111);
        foreach (var folder in new[] { harness.Engine.Layout.Root, harness.Engine.Layout.LayersFolder, Path.Combine(harness.Engine.Layout.LayersFolder, image.Id) })
            Assert.Equal(0b111_000_000u, FileStatus.Of(folder)!.Value.Permissions & 0b111_111_111);
        // Inside a sandbox of the image the links are the sandbox's own, as before.
        var fresh = Sandbox(harness, "hostile");
        Assert.Equal("4755\n", Run(harness, fresh, "stat -c %a /data/suid"));
    }

    private static void Set(string path, string name, string value)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(value);
        Assert.True(OverlayMarkers.lsetxattr(path, name, bytes, (nuint)bytes.Length, 0) == 0, $"setting {name} on {path}");
    }

    private static IReadOnlyList<int> Copiers(string stagingPrefix) =>
        HostProcesses.Mentioning(stagingPrefix).Where(pid => ProcessIdentity.StatFieldsAfterName(pid) is { } f && f[0] != "Z").ToList();
}
