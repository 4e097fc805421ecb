using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Sandbox.Images;
using Sandbox.Images.Packages;
using Sandbox.Native;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests;

/// <summary>
/// Three real mmdebstrap builds of bookworm minbase in a store of their own, shared by the tests below
/// (each takes a minute or more): a cold one, the same again with -Force, and one with -Include hello
/// after packages in the cache were damaged and foreign files planted there.
/// </summary>
public sealed class PackageCacheBuilds : IDisposable
{
    public const string ImageName = "pkgcache";
    public static readonly ImageBuildOptions Minbase = new() { Suite = "bookworm", Variant = "minbase" };
    public static readonly ImageBuildOptions WithHello = new() { Suite = "bookworm", Variant = "minbase", Include = new[] { "hello" } };

    private readonly TemporaryFolder? _folder;

    public PackageCacheBuilds()
    {
        if (Environment.UserName != "root") { SkipReason = "the builds run as root (CI does); the rootless case runs as sandbox-test from root."; return; }
        _folder = new TemporaryFolder("pkgcache");
        Layout = new StoreLayout(Path.Combine(_folder.Path, "store"));

        Cold = Build(Minbase);
        EntriesAfterCold = Entries();
        Warm = Build(Minbase);
        EntriesAfterWarm = Entries();

        // Damage the pool as a crash, a full disk or a hand would: same size but other bytes (apt would
        // take it, it checks only the size), a truncated file, a foreign file, and a link to a host file.
        var dash = Entry("dash_");
        SameSizeGarbage = (dash, File.ReadAllBytes(dash).Length);
        File.WriteAllBytes(dash, RandomNumberGenerator.GetBytes(SameSizeGarbage.Length));
        var sed = Entry("sed_");
        using (var stream = new FileStream(sed, FileMode.Open)) stream.SetLength(stream.Length / 2);
        Truncated = sed;
        Foreign = Path.Combine(Folder, "evil_1.0_amd64.deb");
        File.WriteAllText(Foreign, "not a package");
        PlantedLink = Path.Combine(Folder, DebFileName.EntryName(new string('0', 64), "passwd_1_amd64.deb"));
        File.CreateSymbolicLink(PlantedLink, "/etc/passwd");
        PasswdBefore = File.ReadAllText("/etc/passwd");

        Replanted = Build(WithHello);
        EntriesAfterReplant = Entries();
    }

    public string? SkipReason { get; }
    internal StoreLayout Layout { get; } = null!;
    public string Folder => PackageCache.For(Layout.Root, Minbase).Folder;
    public Result Cold { get; } = null!;
    public Result Warm { get; } = null!;
    public Result Replanted { get; } = null!;
    public Dictionary<string, ulong> EntriesAfterCold { get; } = null!;
    public Dictionary<string, ulong> EntriesAfterWarm { get; } = null!;
    public Dictionary<string, ulong> EntriesAfterReplant { get; } = null!;
    public (string Path, int Length) SameSizeGarbage { get; }
    public string Truncated { get; } = null!;
    public string Foreign { get; } = null!;
    public string PlantedLink { get; } = null!;
    public string PasswdBefore { get; } = null!;

    /// <summary>What one build said and left: its verbose lines, and the .deb files its image holds anywhere under /var/cache/apt.</summary>
    public sealed record Result(SandboxImage Image, IReadOnlyList<string> Verbose, IReadOnlyList<string> DebsInImage)
    {
        private static readonly Regex Summary = new(@"^Package cache: (\d+) packages from the cache, (\d+) downloaded(?:: ([^(]*))? \(");

        public (int FromCache, int Downloaded, string[] Names) CacheUse()
        {
            var line = Verbose.Single(l => l.StartsWith("Package cache: ", StringComparison.Ordinal) && Summary.IsMatch(l));
            var match = Summary.Match(line);
            var names = match.Groups[3].Success ? match.Groups[3].Value.Trim().Split(", ") : Array.Empty<string>();
            return (int.Parse(match.Groups[1].Value), int.Parse(match.Groups[2].Value), names);
        }
    }

    private Result Build(ImageBuildOptions options)
    {
        var log = new RecordingLog();
        var image = new SandboxEngine(Layout, log).Images.Build(ImageName, options, force: true);
        var debs = Directory.EnumerateFiles(Path.Combine(image.RootFs, "var/cache/apt"), "*.deb", SearchOption.AllDirectories).ToList();
        return new Result(image, log.Lines.ToList(), debs);
    }

    /// <summary>The pool's entries by name, with their inode: a rewritten entry gets a new one.</summary>
    public Dictionary<string, ulong> Entries() =>
        Directory.EnumerateFileSystemEntries(Folder).ToDictionary(p => Path.GetFileName(p)!, path => FileStatus.Of(path)!.Value.Inode);

    private string Entry(string packagePrefix) =>
        Directory.EnumerateFiles(Folder).Single(path => Path.GetFileName(path)[(DebFileName.HashLength + 1)..].StartsWith(packagePrefix, StringComparison.Ordinal));

    public void Dispose() => _folder?.Dispose();
}

[Trait("Area", "Images")]
public sealed class PackageCacheTests : IClassFixture<PackageCacheBuilds>
{
    private readonly PackageCacheBuilds _builds;

    public PackageCacheTests(PackageCacheBuilds builds) => _builds = builds;

    private void SkipUnlessBuilt() => Skip.If(_builds.SkipReason is not null, _builds.SkipReason);

    [SkippableFact]
    public void A_cold_build_keeps_every_package_it_downloaded_under_its_hash_and_the_image_keeps_none()
    {
        SkipUnlessBuilt();
        var (fromCache, downloaded, _) = _builds.Cold.CacheUse();
        Assert.Equal(0, fromCache);
        Assert.True(downloaded > 50, $"a minbase is about 90 packages, got {downloaded}");
        Assert.Equal(downloaded, _builds.EntriesAfterCold.Count);
        foreach (var name in _builds.EntriesAfterCold.Keys)
        {
            Assert.True(DebFileName.TryParseEntry(name, out var hash, out _), name);
            var path = Path.Combine(_builds.Folder, name);
            Assert.Equal(hash, Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant());
            Assert.Equal(PrivateFiles.FileMode, File.GetUnixFileMode(path));
        }
        Assert.Equal(PrivateFiles.FolderMode, File.GetUnixFileMode(_builds.Folder));
        Assert.Empty(_builds.Cold.DebsInImage);
        // Every package the image has, epochs included: apt names "libgmp10_2%3a6.2.1+dfsg1-1.1_amd64.deb" what the
        // pool's Filename calls "libgmp10_6.2.1+dfsg1-1.1_amd64.deb", and named by Filename none of the 11 was kept.
        Assert.Equal(Installed(_builds.Cold).Order(StringComparer.Ordinal),
            _builds.EntriesAfterCold.Keys.Select(ArchiveName).Order(StringComparer.Ordinal));
        Assert.DoesNotContain(_builds.Cold.Verbose, line => line.Contains("not what the signed index names", StringComparison.Ordinal));
    }

    private static HashSet<string> Installed(PackageCacheBuilds.Result build) =>
        InstalledPackages.ArchiveNames(File.ReadAllText(Path.Combine(build.Image.RootFs, "var", "lib", "dpkg", "status")));

    private static string ArchiveName(string entry) => DebFileName.TryParseEntry(entry, out _, out var name) ? name : entry;

    [SkippableFact]
    public void A_rebuild_with_Force_downloads_nothing_and_rewrites_no_cached_package()
    {
        SkipUnlessBuilt();
        var (fromCache, downloaded, _) = _builds.Warm.CacheUse();
        Assert.Equal(0, downloaded);
        Assert.Equal(_builds.EntriesAfterCold.Count, fromCache);
        Assert.Equal(Installed(_builds.Warm).Count, fromCache);
        Assert.DoesNotContain(_builds.Warm.Verbose, line => line.Contains("not what the signed index names", StringComparison.Ordinal));
        Assert.Equal(_builds.EntriesAfterCold, _builds.EntriesAfterWarm); // same names, same inodes
        Assert.Empty(_builds.Warm.DebsInImage); // the seeded files do not stay in the image either
    }

    [SkippableFact]
    public void Damaged_and_planted_cache_files_are_dropped_and_only_they_and_the_new_package_are_downloaded()
    {
        SkipUnlessBuilt();
        var (_, downloaded, names) = _builds.Replanted.CacheUse();
        // hello is new; dash (same size, other bytes) and sed (truncated) were dropped and fetched again.
        Assert.Equal(3, downloaded);
        Assert.Equal(new[] { "dash_", "hello_", "sed_" }, names.Select(n => n[..(n.IndexOf('_') + 1)]).Order(StringComparer.Ordinal));
        Assert.Contains(_builds.Replanted.Verbose, l => l.Contains("dropped evil_1.0_amd64.deb", StringComparison.Ordinal));
        Assert.Contains(_builds.Replanted.Verbose, l => l.Contains("dash_", StringComparison.Ordinal) && l.Contains("does not match its SHA-256", StringComparison.Ordinal));

        Assert.False(File.Exists(_builds.Foreign));
        Assert.Null(FileStatus.Of(_builds.PlantedLink));
        Assert.Equal(_builds.PasswdBefore, File.ReadAllText("/etc/passwd")); // the link was removed, not followed
        // dash and sed are back under the same names (the same content as before the damage), hello is new.
        Assert.True(File.Exists(_builds.SameSizeGarbage.Path) && new FileInfo(_builds.SameSizeGarbage.Path).Length == _builds.SameSizeGarbage.Length);
        Assert.True(File.Exists(_builds.Truncated));
        foreach (var path in new[] { _builds.SameSizeGarbage.Path, _builds.Truncated })
        {
            DebFileName.TryParseEntry(Path.GetFileName(path), out var hash, out _);
            Assert.Equal(hash, Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant());
        }
        Assert.Equal(_builds.EntriesAfterCold.Count + 1, _builds.EntriesAfterReplant.Count);
        Assert.Empty(_builds.Replanted.DebsInImage);

        var engine = new SandboxEngine(_builds.Layout);
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = PackageCacheBuilds.ImageName, Provider = ProviderName.Bubblewrap });
        try
        {
            var result = engine.Invoke(sandbox, new SandboxCommand
            {
                Argv = new[] { "/bin/sh", "-c", "dash -c 'echo dash' && echo x | sed s/x/sed/ && hello && dpkg --verify dash sed hello && echo verified" },
                Timeout = TimeSpan.FromMinutes(2),
            });
            Assert.True(result.ExitCode == 0, result.StdErr);
            Assert.Equal("dash\nsed\nHello, world!\nverified\n", result.StdOut);
        }
        finally { engine.RemoveSandbox(sandbox); }
    }

    [SkippableFact]
    public void Builds_run_under_eatmydata_and_leave_nothing_of_it_in_the_image()
    {
        SkipUnlessBuilt();
        var eatmydata = Processes.ToolLocator.Find("eatmydata") is not null;
        Assert.True(eatmydata, "eatmydata is in tools/setup.sh's packages: install it (apt-get install eatmydata)");
        Assert.Contains(_builds.Cold.Verbose, l => l.Contains("--hook-dir=" + MmdebstrapCacheOptions.EatMyDataHooks, StringComparison.Ordinal));

        var root = _builds.Replanted.Image.RootFs;
        // The diversions of a minbase without eatmydata: dash's, and no dpkg wrapper.
        Assert.Equal("/usr/share/man/man1/sh.1.gz\n/usr/share/man/man1/sh.distrib.1.gz\ndash\n/bin/sh\n/bin/sh.distrib\ndash\n",
            File.ReadAllText(Path.Combine(root, "var/lib/dpkg/diversions")));
        Assert.False(File.Exists(Path.Combine(root, "usr/bin/dpkg.distrib")));
        Assert.False(File.Exists(Path.Combine(root, "usr/bin/eatmydata")));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(root, "usr/lib"), "libeatmydata*", SearchOption.AllDirectories));
        var dpkg = File.ReadAllBytes(Path.Combine(root, "usr/bin/dpkg"));
        Assert.Equal("\u007fELF"u8.ToArray(), dpkg[..4]); // dpkg itself, not the wrapper script
    }

    [SkippableFact]
    [Trait("User", "NonRoot")]
    public void Rootless_builds_use_a_cache_of_the_users_own_that_the_builds_subordinate_ids_cannot_write()
    {
        SkipUnlessBuilt();
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var user = new RemoteHarness();
        // Give the user's store the minbase packages root's builds cached (as the user's files): the
        // rootless build must then download exactly hello.
        var pool = PackageCache.For(user.StoreRoot, PackageCacheBuilds.Minbase).Folder;
        Directory.CreateDirectory(pool);
        var seeded = _builds.EntriesAfterCold.Keys.ToList();
        foreach (var name in seeded)
            File.Copy(Path.Combine(_builds.Folder, name), Path.Combine(pool, name));
        RunAsRoot.Command("chown", "-R", $"{UnprivilegedUser.Name}:", Path.Combine(user.StoreRoot, "cache"));
        RunAsRoot.Command("chmod", "-R", "go=", Path.Combine(user.StoreRoot, "cache"));
        var before = Directory.EnumerateFiles(pool).ToDictionary(p => Path.GetFileName(p)!, p => FileStatus.Of(p)!.Value.Inode);

        var image = user.Build("pkgcache-user", PackageCacheBuilds.WithHello);
        Assert.Equal("mmdebstrap", image.Source);

        var after = Directory.EnumerateFileSystemEntries(pool).ToDictionary(p => Path.GetFileName(p)!, p => FileStatus.Of(p)!.Value);
        var added = after.Keys.Except(before.Keys).ToList();
        Assert.Single(added);
        Assert.Contains("-hello_", added[0]);
        Assert.All(before, kv => Assert.Equal(kv.Value, after[kv.Key].Inode)); // nothing cached was downloaded again
        var uid = uint.Parse(RunAsRoot.Command("id", "-u", UnprivilegedUser.Name).Trim());
        foreach (var folder in new[] { Path.Combine(user.StoreRoot, "cache"), Path.GetDirectoryName(pool)!, pool })
        {
            var status = FileStatus.Of(folder)!.Value;
            Assert.Equal((uid, 0b111_000_000u), (status.Uid, status.Permissions));
        }
        Assert.All(after.Values, status => Assert.Equal((uid, 0b110_000_000u), (status.Uid, status.Permissions)));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(user.StoreRoot, "layers", Assert.Single(image.Layers), "tree", "var/cache/apt"), "*.deb", SearchOption.AllDirectories));

        var sandbox = user.Create(new SandboxCreateOptions { Image = "pkgcache-user", Provider = ProviderName.Bubblewrap });
        var result = user.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "hello" } });
        Assert.True(result.ExitCode == 0, result.StdErr);
        Assert.Equal("Hello, world!\n", result.StdOut);
        user.Remove(sandbox.Id);
    }
}
