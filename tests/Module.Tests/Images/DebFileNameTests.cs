using Sandbox.Images.Packages;
using Xunit;

namespace Sandbox.Tests;

/// <summary>The package cache's names and the dpkg status parsing, as plain data. Pure: runs nothing.</summary>
[Trait("Area", "Images")]
public sealed class DebFileNameTests
{
    private const string Hash = "8856fe768f87fbc581290617a774cf31423a75b0390774508e219159c6bbc430";

    [Theory]
    [InlineData("hello_2.10-3_amd64.deb", true)]
    [InlineData("libc6_2.36-9+deb12u10_amd64.deb", true)]
    [InlineData("base-files_12.4+deb12u11_amd64.deb", true)]
    [InlineData("bsdutils_1%3a2.38.1-5+deb12u3_amd64.deb", true)] // an epoch, as apt writes it
    [InlineData("../hello_2.10-3_amd64.deb", false)]
    [InlineData("hello_2.10-3_amd64.deb.partial", false)]
    [InlineData("lock", false)]
    [InlineData("Hello_2.10-3_amd64.deb", false)]
    [InlineData("hello_2.10/3_amd64.deb", false)]
    [InlineData("hello_2.10-3_amd64.deb\n", false)]
    public void Only_apt_archive_names_are_packages(string name, bool expected) =>
        Assert.Equal(expected, DebFileName.IsArchiveName(name));

    [Fact]
    public void An_entry_names_its_hash_and_apts_name()
    {
        Assert.True(DebFileName.TryParseEntry(DebFileName.EntryName(Hash, "hello_2.10-3_amd64.deb"), out var hash, out var name));
        Assert.Equal((Hash, "hello_2.10-3_amd64.deb"), (hash, name));
        Assert.False(DebFileName.TryParseEntry("hello_2.10-3_amd64.deb", out _, out _));
        Assert.False(DebFileName.TryParseEntry(Hash.ToUpperInvariant() + "-hello_2.10-3_amd64.deb", out _, out _));
        Assert.False(DebFileName.TryParseEntry(Hash + "-evil", out _, out _));
        Assert.False(DebFileName.TryParseEntry(Hash[..63] + "-hello_2.10-3_amd64.deb", out _, out _));
    }

    [Fact]
    public void Installed_packages_become_apts_archive_names_with_the_epoch_escaped()
    {
        const string status = """
            Package: bsdutils
            Status: install ok installed
            Architecture: amd64
            Version: 1:2.38.1-5+deb12u3
            Description: basic utilities
             from 4.4BSD-Lite

            Package: removed-one
            Status: deinstall ok config-files
            Architecture: amd64
            Version: 1.0

            Package: tzdata
            Status: install ok installed
            Architecture: all
            Version: 2025b-0+deb12u1
            """;
        Assert.Equal(new[] { "bsdutils_1%3a2.38.1-5+deb12u3_amd64.deb", "tzdata_2025b-0+deb12u1_all.deb" },
            InstalledPackages.ArchiveNames(status.Replace("\r\n", "\n")).Order(StringComparer.Ordinal));
    }
}

/// <summary>The pool keeps one version of each package a build installed. Files only: no build.</summary>
[Trait("Area", "Images")]
public sealed class PackageCachePruneTests
{
    [Fact]
    public void A_build_prunes_the_other_versions_of_what_it_installed_and_keeps_everything_else()
    {
        using var store = new Support.TemporaryFolder("prune");
        var cache = PackageCache.For(store.Path, new Sandbox.Images.ImageBuildOptions { Suite = "bookworm", Architecture = "amd64" });
        Directory.CreateDirectory(cache.Folder);
        string Entry(char hash, string name) => Path.Combine(cache.Folder, DebFileName.EntryName(new string(hash, 64), name));
        var old = Entry('a', "dash_0.5.12-1_amd64.deb");
        var current = Entry('b', "dash_0.5.12-2_amd64.deb");
        var otherArchitecture = Entry('c', "dash_0.5.12-1_i386.deb");
        var notInstalled = Entry('d', "hello_2.10-3_amd64.deb");
        foreach (var path in new[] { old, current, otherArchitecture, notInstalled }) File.WriteAllText(path, "x");

        var pruned = cache.PruneSuperseded(new HashSet<string> { "dash_0.5.12-2_amd64.deb", "sed_4.9-1_amd64.deb" });

        Assert.Equal(1, pruned);
        Assert.False(File.Exists(old));
        Assert.True(File.Exists(current) && File.Exists(otherArchitecture) && File.Exists(notInstalled));
    }
}
