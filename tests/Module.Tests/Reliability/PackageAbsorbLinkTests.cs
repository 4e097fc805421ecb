using System.Diagnostics;
using Sandbox.Images;
using Sandbox.Images.Packages;
using Sandbox.Native;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// After a build the package cache takes the build's downloads in (PackageCache.Absorb): as root it
/// gave each file to the store's owner and made it 0600 through its descriptor. It asked whether the
/// file had one name by its path, then opened the path: a name swapped between the two for a hard link
/// to a file of root's (whoever can write the folder: the build's maintainer scripts wrote there) had
/// root re-own and re-mode that file. The race is won by a loop swapping the name back and forth while
/// Absorb runs again and again, bounded in time (the old code lost it within seconds). Asked of the
/// descriptor alone, or by one lstat of the name after the open, it was still lost (24,243 attempts in
/// one CI run). Now root changes no file it did not make: each download is copied into the pool.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class PackageAbsorbLinkTests
{
    private const string Name = "dash_0.5.12-2_amd64.deb";

    [SkippableFact]
    public void A_download_swapped_for_a_hard_link_to_a_file_of_roots_leaves_that_file_as_it_was()
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        using var folder = new TemporaryFolder("absorb-link");
        var cache = PackageCache.For(Path.Combine(folder.Path, "store"), new ImageBuildOptions { Suite = "bookworm", Architecture = "amd64" });
        Directory.CreateDirectory(cache.Folder);
        cache.EnsureCreated();
        var incoming = Directory.CreateDirectory(Path.Combine(folder.Path, "incoming")).FullName;
        // Root's file (0644 like /etc/passwd), on the same file system as the build's folder, as a hard link needs.
        var victim = Path.Combine(folder.Path, "victim");
        File.WriteAllText(victim, "root's own file\n");
        File.SetUnixFileMode(victim, (UnixFileMode)0b110_100_100);
        // The name alternates between a fresh single-named file and a hard link to the victim (rename is atomic).
        using var swapper = Process.Start(new ProcessStartInfo("/bin/sh")
        {
            ArgumentList =
            {
                "-c", "cd \"$1\" && while :; do echo x > .plain && mv -f .plain \"$2\"; ln -f \"$3\" .lure && mv -f .lure \"$2\"; done",
                "swapper", incoming, Name, victim,
            },
            UseShellExecute = false,
        })!;
        var watch = Stopwatch.StartNew();
        var attempts = 0;
        try
        {
            while (watch.Elapsed < TimeSpan.FromSeconds(20) && Mode(victim) == 0b110_100_100)
            {
                cache.Absorb(incoming, new HashSet<string>(), () => null);
                attempts++;
            }
        }
        finally
        {
            swapper.Kill();
            swapper.WaitForExit();
        }

        Assert.True(attempts > 100, $"only {attempts} attempts: the race was hardly tried");
        Assert.True(Mode(victim) == 0b110_100_100, $"root's file was made {Convert.ToString(Mode(victim), 8)} after {attempts} attempts");
        Assert.Equal("root's own file\n", File.ReadAllText(victim));
    }

    [SkippableFact]
    public void A_single_named_download_is_still_taken_in_under_its_hash_and_made_0600()
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        using var folder = new TemporaryFolder("absorb-plain");
        var cache = PackageCache.For(Path.Combine(folder.Path, "store"), new ImageBuildOptions { Suite = "bookworm", Architecture = "amd64" });
        Directory.CreateDirectory(cache.Folder);
        cache.EnsureCreated();
        var incoming = Directory.CreateDirectory(Path.Combine(folder.Path, "incoming")).FullName;
        File.WriteAllText(Path.Combine(incoming, Name), "package\n");
        File.WriteAllText(Path.Combine(folder.Path, "other"), "other\n");
        File.CreateSymbolicLink(Path.Combine(incoming, "hello_2.10-3_amd64.deb"), Path.Combine(folder.Path, "other"));

        var (added, unlisted) = cache.Absorb(incoming, new HashSet<string>(), () => null);

        Assert.Equal(new[] { Name }, added);
        Assert.Equal(0, unlisted);
        var entry = Assert.Single(Directory.GetFiles(cache.Folder));
        Assert.EndsWith("-" + Name, entry, StringComparison.Ordinal);
        Assert.Equal("package\n", File.ReadAllText(entry));
        Assert.Equal(0b110_000_000u, Mode(entry));
    }

    private static uint Mode(string path) => FileStatus.Of(path)!.Value.Permissions & 0b111_111_111;
}
