using System.Diagnostics;
using System.Globalization;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Export-SandboxImage writes an image's flattened tree (FlatView): a derived image's layers as a
/// read-only overlay, a single layer as it is. As root it mounted the overlay from the layers' store
/// paths (cd store; lowerdir=layers/ID/tree:...) and gave tar a single layer by its path. Under sudo
/// the store is the caller's: a layer folder swapped for a link to a folder of root's made root's
/// overlay (or tar) read that folder, and the tarball the caller gets held its secret. Each attack is
/// won deterministically: the caller swaps the layer before the export (nothing in between looks at
/// the layers), or root's own tar command line is logged (after every check) and the swap comes then.
/// Held beneath the store root without links and mounted detached before anything is logged, the
/// layers are refused, or are still the image's own whatever their names lead to afterwards.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class FlatViewBeneathTests
{
    private const string Secret = "root's own secret\n";

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void An_export_whose_layer_the_sudo_caller_swapped_for_a_link_to_a_folder_of_roots_has_no_secret(bool derived)
    {
        using var arena = new Arena(derived ? "flatheld-derived" : "flatheld-single");
        using var remote = arena.SudoEngine();
        var image = derived ? Derive(remote) : HarnessFixture.ImageName;
        var layer = TopLayer(remote, image);
        // The caller's move: their layers/ folder, so they may rename a layer away and put a link in its place.
        arena.AsCaller("mv \"$1\" \"$1-away\" && ln -s \"$2\" \"$1\"", layer, arena.VictimLayer);

        var target = Path.Combine(arena.Destination, "image.tar");
        var outcome = Record.Exception(() => remote.Export(image, target));

        Assert.False(File.Exists(target) && Listing(target).Contains("./secret"), "the caller's tarball holds root's secret");
        Assert.Equal("StoreEntryUnsafe", Assert.IsType<SandboxException>(outcome).ErrorId);
    }

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_layer_swapped_for_a_link_after_the_checks_changes_nothing_the_export_holds(bool derived)
    {
        // The swap comes while the engine logs tar's command line: every layer has been looked at by then.
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        using var busybox = new BusyboxStore(derived ? "flatheld-late-derived" : "flatheld-late-single");
        using var victims = new TemporaryFolder("flatheld-late-victims");
        var victim = VictimLayer(victims.Path);
        string? layer = null;
        var swapped = false;
        var log = new SwapOnLogLine("--create", () =>
        {
            if (layer is null || swapped) return;
            Directory.Move(layer, layer + "-away");
            File.CreateSymbolicLink(layer, victim);
            swapped = true;
        });
        var engine = new SandboxEngine(busybox.Engine.Layout, log);
        var image = derived ? Derive(engine) : HarnessFixture.ImageName;
        layer = Path.GetDirectoryName(engine.Images.Get(image).LayerFolders[0])!;
        var target = Path.Combine(victims.Path, "image.tar");
        try
        {
            engine.Images.Export(image, target, force: false);

            Assert.True(swapped, "tar's command line was not logged: the swap never happened");
            var listing = Listing(target);
            Assert.DoesNotContain("./secret", listing);
            Assert.Contains(derived ? "./derived" : "./bin/busybox", listing);
        }
        finally
        {
            if (swapped)
            {
                File.Delete(layer);
                Directory.Move(layer + "-away", layer);
            }
        }
    }

    [SkippableFact]
    public void An_export_of_a_derived_image_under_sudo_is_still_its_flattened_tree()
    {
        using var arena = new Arena("flatheld-works");
        using var remote = arena.SudoEngine();
        var image = Derive(remote);

        var listing = Listing(remote.Export(image, Path.Combine(arena.Destination, "image.tar")));

        Assert.Contains("./derived", listing);
        Assert.Contains("./bin/busybox", listing);
        Assert.DoesNotContain("./gone", listing); // the whiteout hides it, and is not exported itself
    }

    /// <summary>A derived image of the busybox image, with a file added and one deleted (a whiteout in its layer).</summary>
    private static string Derive(ISandboxHarness engine)
    {
        var parent = engine.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        Assert.Equal(0, engine.Invoke(parent.Id, new SandboxCommand { Argv = new[] { "sh", "-c", "echo x > /gone" } }).ExitCode);
        engine.Commit(parent.Id, "middle");
        engine.Remove(parent.Id);
        var sandbox = engine.Create(new SandboxCreateOptions { Image = "middle", Provider = ProviderName.Bubblewrap });
        Assert.Equal(0, engine.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", "echo derived > /derived; rm /gone" } }).ExitCode);
        engine.Commit(sandbox.Id, "derived");
        engine.Remove(sandbox.Id);
        return "derived";
    }

    private static string Derive(SandboxEngine engine)
    {
        string Step(string parent, string script, string name)
        {
            var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = parent, Provider = ProviderName.Bubblewrap });
            Assert.Equal(0, engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sh", "-c", script } }).ExitCode);
            engine.CommitSandbox(sandbox.Id, name, new Dictionary<string, string>(), force: false, CancellationToken.None);
            engine.RemoveSandbox(sandbox);
            return name;
        }
        return Step(Step(HarnessFixture.ImageName, "echo x > /gone", "middle"), "echo derived > /derived; rm /gone", "derived");
    }

    /// <summary>The folder of the image's top layer (layers/ID), as the caller can name it in their own store.</summary>
    private static string TopLayer(ISandboxHarness engine, string image) => Path.GetDirectoryName(engine.ImageRootFs(image))!;

    /// <summary>A folder of root's shaped like a layer (tree/ holding a whole root and root's secret), 0700 like /root.</summary>
    private static string VictimLayer(string under)
    {
        var victim = Path.Combine(under, "victim-layer");
        var tree = BusyboxTree.Create(Path.Combine(victim, "tree"));
        File.WriteAllText(Path.Combine(tree, "secret"), Secret);
        File.SetUnixFileMode(victim, (UnixFileMode)0b111_000_000);
        return victim;
    }

    private static List<string> Listing(string tarball) =>
        RunAsRoot.Command("tar", "-tf", tarball).Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();

    /// <summary>
    /// A temporary folder with the caller's home (home/), their store (home/store) and destination (home/out), and root's victim layer
    /// (victims/victim-layer, 0700 like /root) beside them.
    /// </summary>
    private sealed class Arena : IDisposable
    {
        private readonly TemporaryFolder _folder;

        public Arena(string purpose)
        {
            Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
            UnprivilegedUser.Ensure();
            Uid = uint.Parse(RunAsRoot.Command("id", "-u", UnprivilegedUser.Name).Trim(), CultureInfo.InvariantCulture);
            Gid = uint.Parse(RunAsRoot.Command("id", "-g", UnprivilegedUser.Name).Trim(), CultureInfo.InvariantCulture);
            _folder = new TemporaryFolder(purpose);
            Directory.CreateDirectory(Destination);
            RunAsRoot.Command("chown", $"{Uid}:{Gid}", Home, Destination); // like their home and a folder in it
            var victims = Directory.CreateDirectory(Path.Combine(_folder.Path, "victims")).FullName;
            File.SetUnixFileMode(victims, (UnixFileMode)0b111_101_101);
            VictimLayer = FlatViewBeneathTests.VictimLayer(victims);
        }

        public string Home => Path.Combine(_folder.Path, "home");
        public string Store => Path.Combine(Home, "store");
        public string Destination => Path.Combine(Home, "out");
        public string VictimLayer { get; }
        public uint Uid { get; }
        public uint Gid { get; }

        /// <summary>The engine as root under sudo for the caller, in a process of its own (SudoCaller.Current is read once).</summary>
        public RemoteHarness SudoEngine()
        {
            var remote = new RemoteHarness(asRoot: true, sharedStore: Store, environment: new Dictionary<string, string>
            {
                ["SUDO_UID"] = Uid.ToString(CultureInfo.InvariantCulture), ["SUDO_GID"] = Gid.ToString(CultureInfo.InvariantCulture),
                ["SUDO_USER"] = UnprivilegedUser.Name,
            }, storeMissing: true); // made by the engine, so the caller's as under sudo
            ((ISandboxHarness)remote).Import(HarnessFixture.ImageName, BusyboxTree.Create(Path.Combine(_folder.Path, "tree")));
            return remote;
        }

        /// <summary>Runs <paramref name="script"/> as the caller (the unprivileged test user), who owns the store.</summary>
        public void AsCaller(string script, params string[] arguments)
        {
            var start = new ProcessStartInfo("runuser") { RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = "/" };
            foreach (var word in new[] { "-u", UnprivilegedUser.Name, "--", "/bin/sh", "-c", script, "caller" }.Concat(arguments))
                start.ArgumentList.Add(word);
            using var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"the caller's move failed: {stderr}");
        }

        public void Dispose() => _folder.Dispose();
    }
}
