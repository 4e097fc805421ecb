using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Layers;

/// <summary>
/// A derived image is its parent plus the layer a sandbox wrote, per provider and user: a sandbox
/// that added, modified and deleted a file, replaced a folder (opaque) and chowned a file is
/// committed, and a fresh sandbox of the new image sees every change; the parent's layer is
/// byte-identical afterwards; chains of 3 and 25 layers mount and read.
/// </summary>
public abstract class DerivedImageConformance<TFixture> : IClassFixture<TFixture> where TFixture : HarnessFixture
{
    private readonly TFixture _fixture;

    protected DerivedImageConformance(TFixture fixture) => _fixture = fixture;

    protected abstract ProviderName Provider { get; }

    private ISandboxHarness Harness
    {
        get
        {
            Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
            return _fixture.Harness;
        }
    }

    private const string Changes =
        "set -e; echo added > /data/added.txt; echo modified > /data/file.txt; rm /data/delete-me.txt; " +
        "rm -r /data/nested; mkdir /data/nested; echo only > /data/nested/only.txt; chown 1234:2345 /data/append.txt";

    private const string Check =
        "cat /data/added.txt /data/file.txt; test ! -e /data/delete-me.txt && echo deleted; ls -A /data/nested; stat -c %u:%g /data/append.txt";

    [SkippableFact]
    public void A_committed_sandbox_is_its_image_plus_its_changes_and_leaves_the_parent_untouched()
    {
        var harness = Harness;
        var parentLayer = harness.ImageRootFs(HarnessFixture.ImageName);
        var before = TreeSnapshot.Take(parentLayer);
        var name = Unique("derived");

        var sandbox = Create(HarnessFixture.ImageName);
        Run(sandbox, Changes);
        // overlayfs's own bookkeeping in the upper layer (user.* as the sandbox mounts with userxattr):
        // not part of the layer format, dropped at publish whoever commits.
        var upper = Path.Combine(harness.StateFolder(sandbox.Id), "upper");
        Plant(Path.Combine(upper, "data"), "user.overlay.impure");
        Plant(Path.Combine(upper, "data/added.txt"), "user.overlay.origin");
        var image = harness.Commit(sandbox.Id, name);
        // The sandbox keeps running on its own layer after the commit.
        Assert.Equal("added\n", Run(sandbox, "cat /data/added.txt"));
        harness.Remove(sandbox.Id);

        Assert.Equal(HarnessFixture.ImageName, image.Parent);
        Assert.Equal(64, image.Id.Length);
        Assert.Equal(2, image.Layers.Count);
        Assert.True(image.LayerSize > 0 && image.TotalSize > image.LayerSize, $"layer {image.LayerSize}, total {image.TotalSize}");

        // One layer format whoever made it: the deletion a 0/0 whiteout, the replaced folder opaque in user.*.
        var layer = harness.ImageRootFs(name);
        Assert.True(Native.FileStatus.Of(Path.Combine(layer, "data/delete-me.txt")) is { IsWhiteout: true }, "a whiteout");
        Assert.Equal("y", Images.Layers.OverlayMarkers.Get(Path.Combine(layer, "data/nested"), Images.Layers.OverlayMarkers.Opaque));
        Assert.DoesNotContain(LayerListing.Of(layer), line => line.Contains("xattr:trusted.", StringComparison.Ordinal)
                                                              || line.Contains("impure", StringComparison.Ordinal) || line.Contains("origin", StringComparison.Ordinal));

        var fresh = Create(name);
        Assert.Equal("added\nmodified\ndeleted\nonly.txt\n1234:2345\n", Run(fresh, Check));
        harness.Remove(fresh.Id);
        Assert.Empty(TreeSnapshot.Take(parentLayer).DifferencesFrom(before));
    }

    [SkippableFact]
    public void A_chain_of_three_derived_images_sees_all_three_steps()
    {
        var parent = HarnessFixture.ImageName;
        for (var step = 1; step <= 3; step++) parent = Derive(parent, Unique($"chain{step}"), $"echo step{step} > /step{step}");
        var sandbox = Create(parent);
        Assert.Equal("step1\nstep2\nstep3\n", Run(sandbox, "cat /step1 /step2 /step3"));
        harness().Remove(sandbox.Id);
        ISandboxHarness harness() => Harness;
    }

    [SkippableFact]
    public void A_chain_of_25_layers_mounts_and_reads_every_layer()
    {
        var parent = HarnessFixture.ImageName;
        for (var step = 1; step <= 25; step++) parent = Derive(parent, Unique($"deep{step}"), $"echo {step} > /layer-{step}");
        var sandbox = Create(parent);
        var expected = string.Concat(Enumerable.Range(1, 25).Select(i => $"{i}\n"));
        Assert.Equal(expected, Run(sandbox, "for i in $(seq 1 25); do cat /layer-$i; done"));
        Harness.Remove(sandbox.Id);
    }

    private string Derive(string parent, string name, string script)
    {
        var sandbox = Create(parent);
        Run(sandbox, script);
        Harness.Commit(sandbox.Id, name);
        Harness.Remove(sandbox.Id);
        return name;
    }

    private SandboxInfo Create(string image) => Harness.Create(new SandboxCreateOptions { Image = image, Provider = Provider });

    private string Run(SandboxInfo sandbox, string script)
    {
        var result = Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", script } });
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}: {result.StdErr}");
        return result.StdOut;
    }

    /// <summary>As root (the test process), whoever owns the file.</summary>
    private static void Plant(string path, string name)
    {
        var y = "y"u8.ToArray();
        Assert.True(Images.Layers.OverlayMarkers.lsetxattr(path, name, y, 1, 0) == 0, $"{name} on {path}");
    }

    private static string Unique(string stem) => $"{stem}-{Guid.NewGuid().ToString("N")[..8]}";
}

[Trait("Area", "Layers")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "Root")]
public sealed class DerivedImagesBubblewrapAsRoot(RootHarnessFixture fixture) : DerivedImageConformance<RootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
}

[Trait("Area", "Layers")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "NonRoot")]
public sealed class DerivedImagesBubblewrapAsUnprivilegedUser(UserHarnessFixture fixture) : DerivedImageConformance<UserHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
}

[Trait("Area", "Layers")]
[Trait("Provider", "Nspawn")]
[Trait("User", "Root")]
public sealed class DerivedImagesNspawn(RootHarnessFixture fixture) : DerivedImageConformance<RootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Nspawn;
}
