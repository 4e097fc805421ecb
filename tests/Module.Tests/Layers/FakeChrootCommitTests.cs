using Sandbox.Images.Derive;
using Sandbox.Images.Layers;
using Sandbox.Native;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Layers;

/// <summary>
/// Deriving and committing with the FakeChroot provider, as the unprivileged user (FakeChroot never
/// runs as root): the layer is the private copy's difference from the parent, in the one layer
/// format, with the owners faked recorded as the user's subordinate ids on disk, so fresh FakeChroot
/// and rootless Bubblewrap sandboxes of the derived image both see every change; the parent stays
/// byte-identical; chains stack; the cache runs a step once; a hostile step's device node is
/// refused, its links stay links and its FIFOs entries.
/// </summary>
[Trait("Area", "Layers")]
[Trait("Provider", "FakeChroot")]
[Trait("User", "NonRoot")]
public sealed class FakeChrootCommitTests(FakeChrootHarnessFixture fixture) : IClassFixture<FakeChrootHarnessFixture>
{
    /// <summary>Adds, modifies, deletes a file, replaces a folder with one of other contents, and chowns a file.</summary>
    private const string EveryKindOfChange =
        "set -e; echo added > /data/added.txt; echo modified > /data/file.txt; rm /data/delete-me.txt; " +
        "rm -r /data/nested; mkdir /data/nested; echo only > /data/nested/only.txt; chown 1234:2345 /data/append.txt";

    private const string ChecksEveryKindOfChange =
        "cat /data/added.txt /data/file.txt; test ! -e /data/delete-me.txt && echo deleted; ls -A /data/nested; stat -c %u:%g /data/append.txt";

    private const string EveryChangeSeen = "added\nmodified\ndeleted\nonly.txt\n1234:2345\n";

    private RemoteHarness Harness
    {
        get
        {
            Skip.If(fixture.SkipReason is not null, fixture.SkipReason);
            return (RemoteHarness)fixture.Harness;
        }
    }

    [SkippableFact]
    public void A_FakeChroot_derive_publishes_every_kind_of_change_seen_by_fresh_FakeChroot_and_rootless_Bubblewrap_sandboxes()
    {
        var harness = Harness;
        var parentLayer = LayerOf(HarnessFixture.ImageName);
        var before = TreeSnapshot.Take(parentLayer);
        var name = Unique("fc-derived");

        var image = harness.Derive(Step(name, HarnessFixture.ImageName, EveryKindOfChange));

        Assert.Equal(2, image.Layers.Count);
        Assert.Equal(HarnessFixture.ImageName, image.Parent);
        Assert.Equal(EveryChangeSeen, Run(name, ProviderName.FakeChroot, ChecksEveryKindOfChange));
        Assert.Equal(EveryChangeSeen, Run(name, ProviderName.Bubblewrap, ChecksEveryKindOfChange));

        // The one layer format: a 0/0 whiteout, the replaced folder opaque in user.*, the chowned
        // file owned on disk by the user's subordinate ids, and nothing of the copy that did not change.
        var layer = LayerOf(name);
        Assert.True(FileStatus.Of(Path.Combine(layer, "data/delete-me.txt")) is { IsWhiteout: true }, "a whiteout");
        Assert.Equal("y", OverlayMarkers.Get(Path.Combine(layer, "data/nested"), OverlayMarkers.Opaque));
        var (uidStart, gidStart) = SubordinateStart(UnprivilegedUser.Name);
        var chowned = FileStatus.Of(Path.Combine(layer, "data/append.txt"))!.Value;
        Assert.Equal((uidStart + 1233, gidStart + 2344), ((long)chowned.Uid, (long)chowned.Gid));
        Assert.False(File.Exists(Path.Combine(layer, "etc/passwd")), "an untouched file of the copy is not in the layer");
        Assert.False(Directory.Exists(Path.Combine(layer, "usr")), "an untouched folder of the copy is not in the layer");

        Assert.Empty(TreeSnapshot.Take(parentLayer).DifferencesFrom(before));
    }

    [SkippableFact]
    public void A_FakeChroot_layer_holds_what_a_rootless_Bubblewrap_derive_of_the_same_step_holds()
    {
        var harness = Harness;
        // Without the chown's odd ids a Bubblewrap step and a FakeChroot one write the same files.
        var fake = harness.Derive(Step(Unique("same-fc"), HarnessFixture.ImageName, EveryKindOfChange, ProviderName.FakeChroot));
        var bwrap = harness.Derive(Step(Unique("same-bw"), HarnessFixture.ImageName, EveryKindOfChange, ProviderName.Bubblewrap));
        // Bubblewrap's sandbox setup copies /tmp and /var/tmp up (made in the layer, README): folders
        // equal to the parent's with nothing of the step under them, which mean nothing over it.
        var parent = LayerListing.Of(LayerOf(HarnessFixture.ImageName)).ToHashSet(StringComparer.Ordinal);
        var bwrapListing = LayerListing.Of(LayerOf(bwrap.Name));
        static string PathOf(string line) => line[..line.IndexOf(" mode=", StringComparison.Ordinal)];
        var meaningful = new List<string>();
        foreach (var line in bwrapListing.AsEnumerable().Reverse()) // a folder's entries before the folder
        {
            var unchangedFolder = PathOf(line) != "." && parent.Contains(line) && line.Contains(" mode=4", StringComparison.Ordinal);
            if (!unchangedFolder || meaningful.Any(kept => PathOf(kept).StartsWith(PathOf(line) + "/", StringComparison.Ordinal))) meaningful.Insert(0, line);
        }
        Assert.Equal(meaningful, LayerListing.Of(LayerOf(fake.Name)));
    }

    [SkippableFact]
    public void A_folder_moved_over_another_is_published_whole_even_where_its_files_equal_the_replaced_ones_in_every_fact_but_content()
    {
        var harness = Harness;
        // The parent holds two files that differ only in content: same size, time, owner and mode.
        var parent = Unique("fc-twins");
        harness.Derive(Step(parent, HarnessFixture.ImageName,
            "set -e; mkdir -p /srv/a /srv/b; echo new > /srv/a/x; echo old > /srv/b/x; echo old > /srv/b/only-b; " +
            "touch -d '2024-01-01 00:00:00' /srv/a/x /srv/b/x"));
        var facts = Run(parent, ProviderName.FakeChroot, "stat -c '%s %Y %u:%g %a' /srv/a/x /srv/b/x").Split('\n');
        Assert.Equal(facts[0], facts[1]);

        // Renaming a folder leaves its children's status-change times as they were.
        var name = Unique("fc-moved");
        harness.Derive(Step(name, parent, "set -e; rm -rf /srv/b; mv /srv/a /srv/b"));

        const string check = "cat /srv/b/x; ls -A /srv/b; test ! -e /srv/a && echo no-a";
        Assert.Equal("new\nx\nno-a\n", Run(name, ProviderName.FakeChroot, check));
        Assert.Equal("new\nx\nno-a\n", Run(name, ProviderName.Bubblewrap, check));
        Assert.Equal("y", OverlayMarkers.Get(Path.Combine(LayerOf(name), "srv/b"), OverlayMarkers.Opaque));
    }

    [SkippableFact]
    public void A_chain_of_three_FakeChroot_derives_sees_all_three_steps_and_the_chowns_of_the_parents()
    {
        var harness = Harness;
        var parent = HarnessFixture.ImageName;
        for (var step = 1; step <= 3; step++)
        {
            var name = Unique($"fc-chain{step}");
            harness.Derive(Step(name, parent, $"set -e; echo step{step} > /step{step}; chown {step}:{step} /step{step}"));
            parent = name;
        }
        const string check = "cat /step1 /step2 /step3; stat -c %u:%g /step1 /step2 /step3";
        const string expected = "step1\nstep2\nstep3\n1:1\n2:2\n3:3\n";
        Assert.Equal(expected, Run(parent, ProviderName.FakeChroot, check));
        Assert.Equal(expected, Run(parent, ProviderName.Bubblewrap, check));
    }

    [SkippableFact]
    public void The_second_identical_FakeChroot_derive_runs_nothing_and_a_changed_step_runs_again()
    {
        var harness = Harness;
        using var counter = new TemporaryFolder("fc-counter");
        RunAsRoot.Command("chown", $"{UnprivilegedUser.Name}:", counter.Path);
        var mounts = new[] { new BindMount(counter.Path, "/counter", false) };
        var name = Unique("fc-cached");
        var first = harness.Derive(Step(name, HarnessFixture.ImageName, "echo ran >> /counter/runs; echo cached > /cached", mounts: mounts));
        var second = harness.Derive(Step(name, HarnessFixture.ImageName, "echo ran >> /counter/runs; echo cached > /cached", mounts: mounts));
        Assert.Equal(first.Id, second.Id);
        Assert.Equal("ran\n", File.ReadAllText(Path.Combine(counter.Path, "runs")));
        // The bind (a link to the host folder in the copy) is plumbing, not content.
        Assert.False(File.Exists(Path.Combine(LayerOf(name), "counter")) || Directory.Exists(Path.Combine(LayerOf(name), "counter")),
            "the bind's link is not in the layer");

        var changed = harness.Derive(Step(name, HarnessFixture.ImageName, "echo ran >> /counter/runs; echo changed > /cached", mounts: mounts));
        Assert.NotEqual(first.Id, changed.Id);
        Assert.Equal("ran\nran\n", File.ReadAllText(Path.Combine(counter.Path, "runs")));
        Assert.Equal("changed\n", Run(name, ProviderName.FakeChroot, "cat /cached"));
    }

    [SkippableFact]
    public void A_device_node_made_under_fakeroot_refuses_the_commit_and_publishes_nothing()
    {
        var harness = Harness;
        var name = Unique("fc-device");
        var error = Assert.Throws<SandboxException>(() => harness.Derive(Step(name, HarnessFixture.ImageName, "mknod /data/disk b 8 0")));
        Assert.Equal("CommitDeviceNode", error.ErrorId);
        Assert.Contains("/data/disk", error.Message);
        Assert.Empty(harness.List()); // the step's sandbox is removed
        Assert.False(Directory.Exists(Path.Combine(harness.StoreRoot, "images", name)), "no image was published");
    }

    [SkippableFact]
    public void Links_out_of_the_copy_stay_links_FIFOs_stay_entries_and_sparse_files_stay_sparse()
    {
        var harness = Harness;
        var name = Unique("fc-hostile");
        // fakechroot writes an absolute link's target with the copy's host path in front; the layer
        // holds the path the step gave. The FIFO has no writer: reading it would hang the commit.
        var image = harness.Derive(Step(name, HarnessFixture.ImageName,
            "set -e; ln -s /etc/shadow /data/out; ln -s ../../../../../../etc/passwd /data/up; mkfifo /data/fifo; " +
            "dd if=/dev/zero of=/data/sparse bs=1 count=1 seek=4G 2>/dev/null; rm -r /data/nested; ln -s / /data/nested"));
        var layer = LayerOf(image.Name);
        Assert.Equal("/etc/shadow", new FileInfo(Path.Combine(layer, "data/out")).LinkTarget);
        Assert.Equal("../../../../../../etc/passwd", new FileInfo(Path.Combine(layer, "data/up")).LinkTarget);
        Assert.Equal("/", new FileInfo(Path.Combine(layer, "data/nested")).LinkTarget);
        Assert.Equal(0x1000u, FileStatus.Of(Path.Combine(layer, "data/fifo"))!.Value.Mode & 0xF000);
        var sparse = FileStatus.Of(Path.Combine(layer, "data/sparse"))!.Value;
        Assert.Equal((4UL << 30) + 1, sparse.Size);
        Assert.True(sparse.Blocks * 512 < 1 << 20, $"{sparse.Blocks * 512} bytes on disk");
        Assert.Equal("/etc/shadow\n/\np\n", Run(name, ProviderName.Bubblewrap, "readlink /data/out /data/nested; stat -c %A /data/fifo | cut -c1"));
    }

    private DeriveStep Step(string name, string from, string script, ProviderName provider = ProviderName.FakeChroot,
        IReadOnlyList<BindMount>? mounts = null) => new()
    {
        Name = name, From = from, Provider = provider, Network = NetworkMode.Host,
        Argv = new[] { "sh", "-c", script }, Mounts = mounts ?? Array.Empty<BindMount>(),
    };

    private string Run(string image, ProviderName provider, string script)
    {
        var sandbox = Harness.Create(new SandboxCreateOptions { Image = image, Provider = provider });
        try
        {
            var result = Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", script } });
            Assert.True(result.ExitCode == 0, $"{provider}: exit {result.ExitCode}: {result.StdErr}");
            return result.StdOut;
        }
        finally { Harness.Remove(sandbox.Id); }
    }

    /// <summary>The image's own (top) layer folder in the user's store.</summary>
    private string LayerOf(string image) => ((ISandboxHarness)Harness).ImageRootFs(image);

    private static (long Uid, long Gid) SubordinateStart(string user)
    {
        static long Start(string file, string user) =>
            long.Parse(File.ReadLines(file).Select(l => l.Split(':')).First(f => f[0] == user)[1]);
        return (Start("/etc/subuid", user), Start("/etc/subgid", user));
    }

    private static string Unique(string stem) => $"{stem}-{Guid.NewGuid().ToString("N")[..8]}";
}
