using Sandbox.Images;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests;

/// <summary>
/// Real images: a bookworm minbase built with mmdebstrap as root (shared by the run) and as the
/// unprivileged user, commands in it with every provider, the build cache, interrupted and
/// concurrent builds, and export/import round trips.
/// </summary>
[Collection(DebianImageCollection.Name)]
[Trait("Area", "Images")]
public sealed class ImageTests
{
    private readonly DebianImageFixture _debian;

    public ImageTests(DebianImageFixture debian) => _debian = debian;

    private void SkipUnlessBuilt() => Skip.If(_debian.SkipReason is not null, _debian.SkipReason);

    [SkippableTheory]
    [InlineData(ProviderName.Bubblewrap)]
    [InlineData(ProviderName.Nspawn)]
    public void Built_minbase_runs_commands_with_each_root_provider(ProviderName provider)
    {
        SkipUnlessBuilt();
        Assert.Equal("mmdebstrap", _debian.Image.Source);
        var sandbox = _debian.Engine.CreateSandbox(new SandboxCreateOptions { Image = DebianImageFixture.ImageName, Provider = provider });
        try
        {
            var result = _debian.Engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "cat", "/etc/debian_version" } });
            Assert.Equal(0, result.ExitCode);
            Assert.StartsWith("12.", result.StdOut);
            var dpkg = _debian.Engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "dpkg-query", "-W", "-f", "${Package}\\n", "dash" } });
            Assert.Equal("dash\n", dpkg.StdOut);
        }
        finally { _debian.Engine.RemoveSandbox(sandbox); }
    }

    [SkippableFact]
    [Trait("User", "NonRoot")]
    [Trait("Provider", "Bubblewrap")]
    public void Unprivileged_user_builds_minbase_with_mmdebstrap_unshare_and_runs_it()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var user = new RemoteHarness();
        var image = user.Build("bookworm-user", DebianImageFixture.Options);
        Assert.Equal("mmdebstrap", image.Source);
        var sandbox = user.Create(new SandboxCreateOptions { Image = "bookworm-user", Provider = ProviderName.Bubblewrap });
        var result = user.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", "id -u; stat -c %U /etc/shadow; cat /etc/debian_version" } });
        Assert.True(result.ExitCode == 0, result.StdErr);
        Assert.Matches(@"^0\nroot\n12\.", result.StdOut);
        user.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void Identical_parameters_return_the_cached_image_without_running_the_builder()
    {
        SkipUnlessBuilt();
        var log = new RecordingLog();
        var engine = new SandboxEngine(_debian.Engine.Layout, log);
        var again = engine.Images.Build(DebianImageFixture.ImageName, DebianImageFixture.Options, force: false);

        Assert.Equal(_debian.Image.Created, again.Created);
        Assert.Equal(0, log.CommandsStartingWith("mmdebstrap"));
        Assert.Equal(0, log.CommandsStartingWith("debootstrap"));
        Assert.Equal(1, _debian.Log.CommandsStartingWith("mmdebstrap")); // the fixture's one build

        var other = Assert.Throws<SandboxException>(() => engine.Images.Build(DebianImageFixture.ImageName,
            new ImageBuildOptions { Suite = "bookworm", Variant = "minbase", Include = new[] { "jq" } }, force: false));
        Assert.Equal("ImageExists", other.ErrorId);
    }

    [SkippableFact]
    public void Interrupted_build_leaves_no_image_and_the_next_build_succeeds()
    {
        SkipUnlessBuilt();
        using var store = new TemporaryFolder("interrupted");
        var log = new RecordingLog();
        var engine = new SandboxEngine(new StoreLayout(Path.Combine(store.Path, "store")), log);
        using var cancel = new CancellationTokenSource();
        // Kill the builder (its whole process tree) once it is downloading or unpacking packages.
        log.ProgressReported += status =>
        {
            if (status.StartsWith("downloading") || status.StartsWith("extracting") || status.StartsWith("installing")) cancel.Cancel();
        };

        Assert.ThrowsAny<OperationCanceledException>(() =>
            engine.Images.Build("interrupted", DebianImageFixture.Options, force: false, cancel.Token));

        Assert.Null(engine.Images.TryGet("interrupted"));
        Assert.Empty(engine.Images.List());
        Assert.Empty(MountTable.MountPointsUnder(engine.Layout.Root));

        var rebuilt = new SandboxEngine(engine.Layout).Images.Build("interrupted", DebianImageFixture.Options, force: false);
        Assert.True(File.Exists(Path.Combine(rebuilt.RootFs, "etc/debian_version")));
        Assert.Empty(Directory.GetDirectories(engine.Layout.ImagesFolder, ".staging-*"));
    }

    [SkippableFact]
    public void Two_concurrent_builds_of_one_name_run_the_builder_once_and_return_the_same_image()
    {
        SkipUnlessBuilt();
        using var store = new TemporaryFolder("concurrent");
        var layout = new StoreLayout(Path.Combine(store.Path, "store"));
        var logs = new[] { new RecordingLog(), new RecordingLog() };
        var builds = logs.Select(log => Task.Run(() =>
            new SandboxEngine(layout, log).Images.Build("shared", DebianImageFixture.Options, force: false))).ToArray();
        Task.WaitAll(builds);

        Assert.Equal(1, logs.Sum(log => log.CommandsStartingWith("mmdebstrap")));
        Assert.Equal(builds[0].Result.Created, builds[1].Result.Created);
        Assert.Single(new SandboxEngine(layout).Images.List());
    }

    [SkippableFact]
    public void Two_processes_building_one_name_get_the_same_image_built_once()
    {
        SkipUnlessBuilt();
        using var store = new TemporaryFolder("concurrent-processes");
        var storeRoot = Path.Combine(store.Path, "store");
        using var first = new RemoteHarness(asRoot: true, sharedStore: storeRoot);
        using var second = new RemoteHarness(asRoot: true, sharedStore: storeRoot);
        var builds = new[] { first, second }.Select(host => Task.Run(() => host.Build("shared", DebianImageFixture.Options))).ToArray();
        Task.WaitAll(builds);

        // The second waited on the first's lock and got the published image (same Created), not a rebuild.
        Assert.Equal(builds[0].Result.Created, builds[1].Result.Created);
        Assert.Single(new SandboxEngine(new StoreLayout(storeRoot)).Images.List());
        Assert.Empty(Directory.GetDirectories(Path.Combine(storeRoot, "images"), ".staging-*"));
    }

    [SkippableTheory]
    [InlineData("bookworm.tar.zst")]
    [InlineData("bookworm.tar.gz")]
    public void Export_then_import_recreates_the_tree_file_by_file(string fileName)
    {
        SkipUnlessBuilt();
        using var folder = new TemporaryFolder("export");
        var tarball = Path.Combine(folder.Path, fileName);
        var exported = _debian.Engine.Images.Export(DebianImageFixture.ImageName, tarball, force: false);
        Assert.True(exported.Length > 1_000_000);

        var layout = new StoreLayout(Path.Combine(folder.Path, "store"));
        var imported = new SandboxEngine(layout).Images.Import("roundtrip", tarball, force: false);

        var differences = TreeSnapshot.Take(imported.RootFs).DifferencesFrom(TreeSnapshot.Take(_debian.Image.RootFs));
        Assert.True(differences.Count == 0, string.Join("\n", differences.Take(20)));
    }
}
