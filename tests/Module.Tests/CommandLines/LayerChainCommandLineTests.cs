using Sandbox.Images.Layers;
using Sandbox.Providers;
using Sandbox.Providers.CommandLines;
using Xunit;

namespace Sandbox.Tests.CommandLines;

/// <summary>
/// A derived image's chain on the overlay command lines: every layer stacked, topmost first, named
/// relative to the store root the launcher enters, so 25 layers under a long store path stay far
/// below the one page mount(2) accepts; userxattr for new sandboxes, root included.
/// </summary>
[Trait("Area", "CommandLines")]
public sealed class LayerChainCommandLineTests
{
    private static readonly string LongStore = "/srv/" + string.Join('/', Enumerable.Repeat("a-rather-long-folder-name-for-a-store", 6));

    private static IReadOnlyList<string> Chain(int depth) =>
        Enumerable.Range(0, depth).Select(i => Path.Combine(LongStore, LayerStore.RelativeTree(new string((char)('a' + i % 6), 64)[..63] + i % 10))).ToList();

    [Fact]
    public void A_chain_of_25_layers_under_a_long_store_path_is_named_relative_to_the_store_and_fits_one_page()
    {
        var lowers = Chain(25);
        var layer = new OverlayLayer(Path.Combine(LongStore, "sandboxes", "0a1b2c3d4e5f"), lowers, LongStore, userXattr: true);

        var options = layer.MountOptions(inUserNamespace: false);

        Assert.StartsWith("lowerdir=layers/", options, StringComparison.Ordinal);
        Assert.Equal(lowers.Select(l => l[(LongStore.Length + 1)..]), options["lowerdir=".Length..options.IndexOf(",upperdir=", StringComparison.Ordinal)].Split(':'));
        Assert.Contains(",upperdir=sandboxes/0a1b2c3d4e5f/upper,workdir=sandboxes/0a1b2c3d4e5f/work,userxattr", options);
        Assert.True(options.Length < 4096 / 2, $"{options.Length} characters");
        Assert.True(string.Join(':', lowers).Length > 4096, "the absolute paths alone would not fit");
        Assert.Equal(LongStore, layer.MountFolder);
    }

    [Fact]
    public void The_launcher_enters_the_store_before_mounting_and_the_backend_starts_in_slash()
    {
        var layer = new OverlayLayer(Path.Combine(LongStore, "sandboxes", "0a1b2c3d4e5f"), Chain(3), LongStore, userXattr: true);
        var view = CommandLineSamples.View("/usr/bin/bwrap", isRoot: false) with { Overlay = layer };

        var overlay = BubblewrapCommandLine.Build(view, CommandLineSamples.Invocation("true"))[OverlayMountCommandLine.OverlayLabel];

        Assert.Equal(new[] { "sandbox-overlay", LongStore, layer.MountOptions(inUserNamespace: true), layer.Merged, "--" }, overlay.Skip(3));
        Assert.Contains("cd \"$1\"", overlay[2]);
        Assert.Contains("cd /;", overlay[2]);
    }

    [Fact]
    public void A_sandbox_of_an_older_version_keeps_its_mount_flavour()
    {
        var legacy = new OverlayLayer("/store/sandboxes/0a1b2c", "/store/images/bookworm/rootfs");
        Assert.DoesNotContain("userxattr", legacy.MountOptions(inUserNamespace: false));
        Assert.EndsWith(",userxattr", legacy.MountOptions(inUserNamespace: true));
    }

    [Fact]
    public void A_flattened_view_is_read_only_userxattr_and_relative_to_the_store()
    {
        var options = FlatView.Options("/store", new[] { "/store/layers/b/tree", "/store/layers/a/tree", "/elsewhere/rootfs" });
        Assert.Equal("ro,userxattr,lowerdir=layers/b/tree:layers/a/tree:/elsewhere/rootfs", options);
    }
}
