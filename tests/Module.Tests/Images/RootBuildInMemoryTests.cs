using System.Runtime.InteropServices;
using Sandbox.Images;
using Sandbox.Processes;
using Sandbox.Tests.Support;
using Xunit;
using static Sandbox.Tests.Support.HostProcesses;

namespace Sandbox.Tests;

/// <summary>
/// A root build writes its tree into memory (a tmpfs on the builder's target in the build's own mount
/// namespace, <see cref="BuildMemory"/>) and the finished tree is copied to the store: real mmdebstrap
/// builds in an EngineHost as root. While dpkg runs chrooted in the new tree, that tree is a tmpfs;
/// the image's tree keeps what the build made, file capabilities included (ping's cap_net_raw, set by
/// iputils-ping's maintainer script with setcap from libcap2-bin); and a build that outgrows its
/// memory builds again on the disk and succeeds. Before, the builder wrote to the disk only.
/// </summary>
[Trait("Area", "Images")]
[Trait("User", "Root")]
[Collection(RootBuildInMemoryCollection.Name)]
public sealed partial class RootBuildInMemoryTests
{
    [SkippableFact]
    public void A_root_build_runs_in_memory_and_its_tree_reaches_the_store_whole_file_capabilities_included()
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        Skip.If(ToolLocator.Find("mmdebstrap") is null, "mmdebstrap is not installed.");
        using var folder = new TemporaryFolder("build-memory");
        var storeRoot = Path.Combine(folder.Path, "store");
        using var owner = new RemoteHarness(asRoot: true, sharedStore: storeRoot);
        var options = new ImageBuildOptions { Suite = "bookworm", Variant = "minbase", Include = new[] { "libcap2-bin", "iputils-ping" } };

        var build = Task.Run(() => owner.Build("in-memory", options));
        var seen = FileSystemsOfDpkgRoots(owner.HostPid, build);
        var image = build.GetAwaiter().GetResult();

        Assert.Equal(new[] { "tmpfs" }, seen);
        var tree = Path.Combine(storeRoot, "layers", image.Layers.Single(), "tree");
        Assert.True(File.Exists(Path.Combine(tree, "var", "lib", "dpkg", "status")), "the image has a Debian tree");
        Assert.True(Capability(Path.Combine(tree, "usr", "bin", "ping")) > 0, "ping keeps the file capability its maintainer script set in memory");
        Assert.Equal(UnixFileMode.None, File.GetUnixFileMode(Path.Combine(tree, "usr", "bin", "ping")) & UnixFileMode.SetUser);
    }

    [SkippableFact]
    public void A_root_build_that_outgrows_its_memory_builds_again_on_the_disk()
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        Skip.If(ToolLocator.Find("mmdebstrap") is null, "mmdebstrap is not installed.");
        using var folder = new TemporaryFolder("build-outgrown");
        var storeRoot = Path.Combine(folder.Path, "store");
        // A minbase tree is 178 MB: 64 MiB of memory runs out while mmdebstrap extracts (the launcher's report, or dpkg's ENOSPC).
        var environment = new Dictionary<string, string> { ["ENGINEHOST_BUILD_MEMORY"] = (64L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture) };
        using var owner = new RemoteHarness(asRoot: true, sharedStore: storeRoot, environment: environment);

        var build = Task.Run(() => owner.Build("outgrown", new ImageBuildOptions { Suite = "bookworm", Variant = "minbase" }));
        var seen = new List<string>();
        while (!build.IsCompleted)
        {
            // In memory while the build's tmpfs is mounted in a builder's namespace; on the disk once dpkg runs chrooted without it.
            var builders = ProcessTree.Descendants(owner.HostPid).ToList();
            var where = builders.Any(HasBuildTmpfs) ? "memory"
                : builders.Any(pid => Comm(pid) is "dpkg" or "dpkg.distrib" && RootOf(pid) is { } root && root != "/") ? "disk" : null;
            if (where is not null && (seen.Count == 0 || seen[^1] != where)) seen.Add(where);
            Thread.Sleep(50);
        }
        var image = build.GetAwaiter().GetResult();

        Assert.Equal(new[] { "memory", "disk" }, seen);
        Assert.True(File.Exists(Path.Combine(storeRoot, "layers", image.Layers.Single(), "tree", "var", "lib", "dpkg", "status")),
            "the build on the disk made a Debian tree");
        Assert.Empty(Directory.GetDirectories(Path.Combine(storeRoot, "images"), ".*"));
    }

    /// <summary>
    /// The file system types (stat -f) of the roots of the chrooted dpkg processes under <paramref name="engine"/>,
    /// in the order first seen, each once in a row, until <paramref name="build"/> ends.
    /// </summary>
    private static List<string> FileSystemsOfDpkgRoots(int engine, Task build)
    {
        var seen = new List<string>();
        while (!build.IsCompleted)
        {
            foreach (var pid in ProcessTree.Descendants(engine))
            {
                if (Comm(pid) is not ("dpkg" or "dpkg.distrib" or "dpkg-deb") || RootOf(pid) is not { } root || root == "/") continue;
                if (FileSystemType(pid) is { } type && (seen.Count == 0 || seen[^1] != type)) seen.Add(type);
            }
            Thread.Sleep(50);
        }
        return seen;
    }

    /// <summary>Whether the process's mount table has the build's tmpfs (source "sandbox-build").</summary>
    private static bool HasBuildTmpfs(int pid)
    {
        try
        {
            return File.ReadLines($"/proc/{pid}/mountinfo").Select(line => line.Split(" - ", 2)).Any(halves =>
                halves.Length == 2 && halves[1].Split(' ') is [ "tmpfs", "sandbox-build", ..]);
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    /// <summary>stat -f's name of the type; null when the process is gone.</summary>
    private static string? FileSystemType(int pid)
    {
        try { return RunAsRoot.Command("stat", "--file-system", "--format=%T", $"/proc/{pid}/root/.").Trim(); }
        catch (InvalidOperationException) { return null; }
    }

    /// <summary>The size of the file's security.capability attribute (not following a link), or -1.</summary>
    private static long Capability(string path) => lgetxattr(path, "security.capability", IntPtr.Zero, 0);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial nint lgetxattr(string path, string name, IntPtr value, nint size);
}

/// <summary>One root build is in memory at a time (BuildMemory.Reserve): these run alone, so no other test's build holds it.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RootBuildInMemoryCollection
{
    public const string Name = "Root builds in memory";
}
