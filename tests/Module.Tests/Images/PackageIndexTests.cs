using System.Security.Cryptography;
using System.Text;
using Sandbox.Images.Packages;
using Xunit;

namespace Sandbox.Tests;

/// <summary>
/// What a build's signed index names, and what the cache takes in from a build's archives: parsing
/// as plain data, then Absorb on real files. The chain from a real InRelease through gpgv is exercised
/// by every cold build of PackageCacheTests (nothing would be kept if it failed).
/// </summary>
[Trait("Area", "Images")]
public sealed class PackageIndexTests
{
    private static string Sha256(string text) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text))).ToLowerInvariant();

    [Fact]
    public void The_release_hashes_are_the_SHA256_section_only()
    {
        var md5 = new string('1', 32);
        var sha = new string('a', 64);
        var release = $"Origin: Debian\nMD5Sum:\n {md5} 50060337 main/binary-amd64/Packages\nSHA256:\n {sha} 50060337 main/binary-amd64/Packages\n {new string('b', 64)} 123 main/binary-amd64/Packages.xz\n zz 1 main/bad\nAcquire-By-Hash: yes\n";

        var hashes = PackageIndex.ReleaseHashes(release);

        Assert.Equal(sha, hashes["main/binary-amd64/Packages"]);
        Assert.Equal(new string('b', 64), hashes["main/binary-amd64/Packages.xz"]);
        Assert.False(hashes.ContainsKey("main/bad"));
        Assert.Equal(2, hashes.Count);
    }

    [Fact]
    public void A_package_is_named_only_with_a_hash_its_stanza_gives()
    {
        var index = new PackageIndex();
        index.AddPackages($"Package: dash\nVersion: 0.5.12-2\nArchitecture: amd64\nFilename: pool/main/d/dash/dash_0.5.12-2_amd64.deb\nSize: 5\nSHA256: {new string('C', 64)}\n\n" +
                          $"Package: evil\nFilename: pool/../../evil\nSHA256: {new string('d', 64)}\n\nPackage: nohash\nVersion: 1\nArchitecture: all\nFilename: pool/n/nohash_1_all.deb\n");

        Assert.True(index.Names("dash_0.5.12-2_amd64.deb", new string('c', 64)));
        Assert.False(index.Names("dash_0.5.12-2_amd64.deb", new string('e', 64)));
        Assert.False(index.Names("evil", new string('d', 64)));
        Assert.False(index.Names("nohash_1_all.deb", new string('0', 64)));
    }

    [Fact]
    public void A_package_is_named_as_apt_names_its_download_epoch_and_all_included_not_by_its_pool_file()
    {
        var index = new PackageIndex();
        index.AddPackages($"Package: libgmp10\nArchitecture: amd64\nVersion: 2:6.2.1+dfsg1-1.1\nFilename: pool/main/g/gmp/libgmp10_6.2.1+dfsg1-1.1_amd64.deb\nSHA256: {new string('a', 64)}\n\n" +
                          $"Package: debconf\nVersion: 1.5.82\nArchitecture: all\nFilename: pool/main/d/debconf/debconf_1.5.82_all.deb\nSHA256: {new string('b', 64)}\n\n" +
                          $"Package: udev-udeb\nVersion: 252\nArchitecture: amd64\nFilename: pool/main/s/systemd/udev-udeb_252_amd64.udeb\nSHA256: {new string('c', 64)}\n");

        Assert.True(index.Names("libgmp10_2%3a6.2.1+dfsg1-1.1_amd64.deb", new string('a', 64)));
        Assert.False(index.Names("libgmp10_6.2.1+dfsg1-1.1_amd64.deb", new string('a', 64)));
        Assert.True(index.Names("debconf_1.5.82_all.deb", new string('b', 64)));
        Assert.False(index.Names("udev-udeb_252_amd64.deb", new string('c', 64))); // apt would name it .udeb
    }

    [Theory]
    [InlineData("libgmp10", "2:6.2.1+dfsg1-1.1", "amd64", "libgmp10_2%3a6.2.1+dfsg1-1.1_amd64.deb")]
    [InlineData("dash", "0.5.12-2", "amd64", "dash_0.5.12-2_amd64.deb")]
    [InlineData("odd", "1%2", "x.y", "odd_1%252_x%2ey.deb")]
    public void Archive_names_quote_as_apt_does(string package, string version, string architecture, string expected) =>
        Assert.Equal(expected, DebFileName.ForPackage(package, version, architecture));

    [Fact]
    public void Absorb_takes_in_only_what_the_signed_index_names_and_leaves_a_same_size_replacement_out()
    {
        using var store = new Support.TemporaryFolder("absorb");
        var cache = PackageCache.For(store.Path, new Sandbox.Images.ImageBuildOptions { Suite = "bookworm", Architecture = "amd64" });
        cache.EnsureCreated();
        var incoming = Path.Combine(store.Path, "incoming");
        Directory.CreateDirectory(incoming);
        const string genuine = "genuine package bytes";
        const string planted = "planted package bytes"; // same size: apt would install it without a look
        File.WriteAllText(Path.Combine(incoming, "dash_0.5.12-2_amd64.deb"), genuine);
        File.WriteAllText(Path.Combine(incoming, "sed_4.9-1_amd64.deb"), planted);
        var index = new PackageIndex();
        index.AddPackages($"Package: dash\nVersion: 0.5.12-2\nArchitecture: amd64\nFilename: pool/main/d/dash/dash_0.5.12-2_amd64.deb\nSHA256: {Sha256(genuine)}\n\n" +
                          $"Package: sed\nVersion: 4.9-1\nArchitecture: amd64\nFilename: pool/main/s/sed/sed_4.9-1_amd64.deb\nSHA256: {Sha256(genuine)}\n");

        var (added, unlisted) = cache.Absorb(incoming, new HashSet<string>(), () => index);

        Assert.Equal(new[] { "dash_0.5.12-2_amd64.deb" }, added);
        Assert.Equal(1, unlisted);
        var entry = Assert.Single(Directory.GetFiles(cache.Folder));
        Assert.Equal(DebFileName.EntryName(Sha256(genuine), "dash_0.5.12-2_amd64.deb"), Path.GetFileName(entry));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(entry));
    }

    [Fact]
    public void Without_a_verifiable_index_nothing_is_taken_in_and_without_the_need_for_one_everything_is()
    {
        using var store = new Support.TemporaryFolder("absorb-none");
        var cache = PackageCache.For(store.Path, new Sandbox.Images.ImageBuildOptions { Suite = "bookworm", Architecture = "amd64" });
        cache.EnsureCreated();
        var incoming = Path.Combine(store.Path, "incoming");
        Directory.CreateDirectory(incoming);
        File.WriteAllText(Path.Combine(incoming, "dash_0.5.12-2_amd64.deb"), "bytes");
        // Lists that are not signed by a trusted key (here: none at all) give an empty index.
        var lists = Path.Combine(store.Path, "lists");
        Directory.CreateDirectory(lists);
        File.WriteAllText(Path.Combine(lists, "example.org_debian_dists_bookworm_InRelease"), "not signed\n");
        var empty = PackageIndex.FromLists(lists, "bookworm", NullEngineLog.Instance);
        Assert.Equal(0, empty.Count);

        Assert.Empty(cache.Absorb(incoming, new HashSet<string>(), () => empty).Added);
        Assert.Equal(new[] { "dash_0.5.12-2_amd64.deb" }, cache.Absorb(incoming, new HashSet<string>(), () => null).Added);
    }
}

/// <summary>Which verified Release texts may vouch for a build's packages. Plain data.</summary>
[Trait("Area", "Images")]
public sealed class PackageIndexSuiteTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("Origin: Debian\nSuite: oldstable\nCodename: bookworm\nDate: Sat, 11 Jul 2026 10:16:37 UTC\nSHA256:\n x 1 y\n", true)]
    [InlineData("Suite: oldstable-security\nCodename: bookworm-security\nValid-Until: Tue, 01 Dec 2026 00:00:00 UTC\n", true)]
    [InlineData("Suite: oldstable-security\nCodename: bookworm-security\nValid-Until: Sun, 01 Nov 2026 00:00:00 UTC\n", false)]
    [InlineData("Suite: stable\nCodename: trixie\n", false)]
    [InlineData("Origin: Some Vendor\nSuite: bookwormish\nCodename: vendor\n", false)]
    [InlineData("SHA256:\n Codename: bookworm\n", false)]
    public void Only_a_current_index_of_the_builds_suite_counts(string release, bool expected) =>
        Assert.Equal(expected, PackageIndex.IsForSuite(release, "bookworm", Now));
}
