using Sandbox.Tracing;
using Xunit;

namespace Sandbox.Tests.Tracing;

/// <summary>Traced paths to Debian packages through the image's folder links (usrmerge), as text.</summary>
[Trait("Area", "Tracing")]
[Trait("Needs", "Nothing")]
public sealed class PackageOwnersTests
{
    private static readonly Dictionary<string, string> UsrMerge = new()
    {
        ["/bin"] = "usr/bin", ["/lib"] = "usr/lib", ["/lib64"] = "usr/lib64", ["/usr/lib64"] = "../loop", ["/loop"] = "/usr/lib64",
    };

    private static PackageOwners.FolderLinks Links() => new(path => UsrMerge.GetValueOrDefault(path));

    [Theory]
    [InlineData("/bin/sed", "/usr/bin/sed")]
    [InlineData("/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6")]
    [InlineData("/usr/bin/sed", "/usr/bin/sed")]
    [InlineData("/bin", "/bin")] // the last part is kept: a link is owned as a link
    public void Folder_links_are_followed_as_text(string path, string canonical)
    {
        Assert.Equal(canonical, Links().Canonical(path));
    }

    [Fact]
    public void A_loop_of_folder_links_ends_instead_of_hanging()
    {
        Assert.StartsWith("/", Links().Canonical("/lib64/x/y"));
    }

    [Fact]
    public void Traced_files_map_to_their_owners_and_the_rest_is_listed_apart()
    {
        var links = Links();
        var database = new PackageOwners.Database();
        database.Add("sed", "/.\n/bin\n/bin/sed\n/usr/share/doc/sed/copyright\n", links);
        database.Add("libc6", "/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libc.so.6\n", links);
        TracedFileAccess Access(TraceOperation operation, string path, string? target = null, string? errno = null) =>
            new() { Operation = operation, Path = path, Target = target, Errno = errno };
        var (packages, unowned) = PackageOwners.Match(new[]
        {
            Access(TraceOperation.Exec, "/usr/bin/sed"),
            Access(TraceOperation.Read, "/usr/lib/x86_64-linux-gnu/libc.so.6"),
            Access(TraceOperation.Read, "/etc/ld.so.cache"),
            Access(TraceOperation.Read, "/usr/lib/x86_64-linux-gnu"), // a folder: says nothing
            Access(TraceOperation.Read, "/proc/self/maps"),
            Access(TraceOperation.Create, "/tmp/made"),
            Access(TraceOperation.Read, "/tmp/made"),
            Access(TraceOperation.Rename, "/tmp/made", "/tmp/moved"),
            Access(TraceOperation.Read, "/tmp/moved"),
            Access(TraceOperation.Read, "/missing", errno: "ENOENT"),
        }, database, links);
        Assert.Equal(new[] { "libc6", "sed" }, packages.Select(p => p.Name));
        Assert.Equal(new[] { "/usr/bin/sed" }, packages.Single(p => p.Name == "sed").Paths);
        Assert.Equal(new[] { "/etc/ld.so.cache" }, unowned);
    }

    [Fact]
    public void Only_installed_packages_with_dpkg_names_are_read()
    {
        var status = "Package: sed\nStatus: install ok installed\nArchitecture: amd64\n\n" +
                     "Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\n\n" +
                     "Package: ../../../etc/shadow\nStatus: install ok installed\nArchitecture: amd64\n\n" +
                     "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\n";
        Assert.Equal(new[] { ("sed", "amd64"), ("libc6", "amd64") }, PackageOwners.Database.InstalledPackages(status));
    }
}
