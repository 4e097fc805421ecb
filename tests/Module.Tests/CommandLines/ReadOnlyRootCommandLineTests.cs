using Sandbox.Providers.CommandLines;
using Xunit;
using static Sandbox.Tests.CommandLines.CommandLineSamples;
using Bw = Sandbox.Providers.CommandLines.BubblewrapCommandLine;
using Ns = Sandbox.Providers.CommandLines.NspawnCommandLine;

namespace Sandbox.Tests.CommandLines;

/// <summary>
/// -ReadOnlyRoot on the backends' command lines, as plain data (no root, no tools): each writable
/// path bound onto itself from the overlay, / made read-only after every bind, and nothing at all
/// without -ReadOnlyRoot.
/// </summary>
[Trait("Area", "CommandLines")]
[Trait("Needs", "Nothing")]
public sealed class ReadOnlyRootCommandLineTests
{
    private const string Bwrap = "/usr/bin/bwrap";
    private const string Nspawn = "/usr/bin/systemd-nspawn";
    private static readonly NspawnHost PlainHost = new() { RegistersWithMachined = false };

    private static SandboxView ReadOnly(string backend, bool isRoot, string[] writable, params BindMount[] binds) =>
        View(backend, isRoot, binds: binds) with
        {
            ReadOnlyRoot = true, WritablePaths = writable, HeldSources = isRoot ? Held(writable.Length) : null,
            HeldMounts = isRoot ? new HeldBindSources(HeldOverlay, Enumerable.Range(HeldOverlay + 1, writable.Length).ToList()) : null,
        };

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Bubblewrap_binds_each_writable_path_onto_itself_then_remounts_the_root_read_only_after_every_bind(bool isRoot)
    {
        var line = Bw.Build(ReadOnly(Bwrap, isRoot, new[] { "/build", "/tmp" }, new BindMount("/srv/data", "/build/data", ReadOnly: true)), Invocation("true"));

        // As root from the descriptors the provider held each by beneath the overlay's root (HeldOverlayRoot),
        // in the order of the paths; rootless by path, in the command's own namespace.
        Assert.Equal(isRoot
            ? new[] { "--bind-fd", "12", "/build", "--bind-fd", "13", "/tmp" }
            : new[] { "--bind", Merged + "/build", "/build", "--bind", Merged + "/tmp", "/tmp" }, line[Bw.WritablePaths]);
        Assert.Equal(new[] { "--remount-ro", "/" }, line[Bw.ReadOnlyRoot]);
        var labels = line.Labels.ToList();
        // The base file system, then the writable paths, then the -Bind binds over them (keeping their
        // own ro/rw), and only then / read-only: bwrap makes missing bind targets in it.
        Assert.Equal(new[] { Bw.FileSystem, Bw.WritablePaths, Bw.Binds, Bw.ReadOnlyRoot },
            labels.Where(label => label is Bw.FileSystem or Bw.WritablePaths or Bw.Binds or Bw.ReadOnlyRoot));
        Assert.Equal(labels.IndexOf(Bw.Binds) + 1, labels.IndexOf(Bw.ReadOnlyRoot));
        Assert.Equal(new[] { "--ro-bind", "/srv/data", "/build/data" }, line[Bw.Binds]);
        // Every one of them before the command's own words.
        var argv = line.Argv;
        Assert.True(argv.IndexOf("--remount-ro") < argv.LastIndexOf("--"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Bubblewrap_with_no_writable_path_still_makes_the_root_read_only(bool isRoot)
    {
        var line = Bw.Build(ReadOnly(Bwrap, isRoot, Array.Empty<string>()), Invocation("true"));

        Assert.Empty(line[Bw.WritablePaths]);
        Assert.Equal(new[] { "--remount-ro", "/" }, line[Bw.ReadOnlyRoot]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Without_ReadOnlyRoot_neither_backend_gets_anything_of_it(bool isRoot)
    {
        var bwrap = Bw.Build(View(Bwrap, isRoot) with { WritablePaths = new[] { "/ignored" } }, Invocation("true"));
        Assert.DoesNotContain(Bw.WritablePaths, bwrap.Labels);
        Assert.DoesNotContain(Bw.ReadOnlyRoot, bwrap.Labels);
        Assert.DoesNotContain("--remount-ro", bwrap.Argv);

        var nspawn = Ns.ForCommand(View(Nspawn, isRoot: true), PlainHost, Invocation("true"));
        Assert.DoesNotContain(Ns.ReadOnlyRoot, nspawn.Labels);
        Assert.DoesNotContain(Ns.WritablePathsLabel, nspawn.Labels);
        Assert.DoesNotContain("--read-only", nspawn.Argv);
    }

    [Fact]
    public void Nspawn_is_read_only_with_writable_paths_bound_from_mounts_of_their_own_outside_its_root()
    {
        var line = Ns.ForCommand(ReadOnly(Nspawn, isRoot: true, new[] { "/build", "/a:b" }), PlainHost, Invocation("true"));

        var mounts = Ns.WritablePathsMountPoint;
        Assert.Equal(new[] { "--read-only", "--timezone=off", $"--bind={mounts}/0:/build", $"--bind={mounts}/1:/a\\:b" }, line[Ns.ReadOnlyRoot]);
        // Moved into place in the command's mount namespace after the overlay, before nspawn starts.
        var labels = line.Labels.ToList();
        Assert.Equal(labels.IndexOf(OverlayMountCommandLine.OverlayLabel) + 1, labels.IndexOf(Ns.WritablePathsLabel));
        Assert.Equal(labels.IndexOf(Ns.WritablePathsLabel) + 1, labels.IndexOf(Ns.Backend));
        var view = line[Ns.WritablePathsLabel];
        Assert.Equal(new[] { "/bin/sh", "-c" }, view.Take(2));
        // Paths travel as positional parameters, never in the script: the engine's detached mounts, each
        // onto a folder of root's in the command's mount namespace (nothing the store's owner can swap).
        Assert.Equal(new[] { "sandbox-writable-paths", $"/proc/self/fd/{HeldOverlay + 1}", $"{mounts}/0", $"/proc/self/fd/{HeldOverlay + 2}", $"{mounts}/1", "--" },
            view.Skip(3));
        Assert.DoesNotContain(mounts, view[2]);
        Assert.Contains(Providers.OverlayLauncher.SetupMarker, view[2]);
    }
}
