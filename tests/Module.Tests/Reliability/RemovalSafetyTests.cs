using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>The store's deleter never deletes outside the store, never follows a link and never empties a mount.</summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class RemovalSafetyTests
{
    [Fact]
    public void Refuses_paths_outside_the_store()
    {
        using var folder = new TemporaryFolder("remover");
        var store = Path.Combine(folder.Path, "store");
        var outside = Path.Combine(folder.Path, "outside");
        Directory.CreateDirectory(store);
        Directory.CreateDirectory(outside);

        foreach (var path in new[] { outside, store, Path.Combine(store, "..", "outside"), "/etc" })
        {
            var error = Assert.Throws<SandboxException>(() => SafeTreeRemover.Remove(path, store));
            Assert.Equal("UnsafeRemoval", error.ErrorId);
        }
        Assert.True(Directory.Exists(outside));
    }

    [Fact]
    public void Deletes_links_not_their_targets_and_opens_read_only_folders()
    {
        using var folder = new TemporaryFolder("remover-links");
        var store = Path.Combine(folder.Path, "store");
        var tree = Path.Combine(store, "sandboxes", "x");
        var host = Path.Combine(folder.Path, "host");
        Directory.CreateDirectory(Path.Combine(tree, "locked"));
        Directory.CreateDirectory(host);
        File.WriteAllText(Path.Combine(host, "precious.txt"), "precious\n");
        File.CreateSymbolicLink(Path.Combine(tree, "to-folder"), host);
        File.CreateSymbolicLink(Path.Combine(tree, "to-file"), Path.Combine(host, "precious.txt"));
        File.WriteAllText(Path.Combine(tree, "locked", "inside.txt"), "x");
        File.SetUnixFileMode(Path.Combine(tree, "locked"), UnixFileMode.UserRead | UnixFileMode.UserExecute);

        SafeTreeRemover.Remove(tree, store);

        Assert.False(Directory.Exists(tree));
        Assert.Equal("precious\n", File.ReadAllText(Path.Combine(host, "precious.txt")));
    }

    [SkippableFact]
    public void Unmounts_a_bind_mount_inside_before_deleting_and_never_empties_it()
    {
        Skip.If(Environment.UserName != "root", "making a bind mount needs root; run the tests as root (CI does).");
        using var folder = new TemporaryFolder("remover-mount");
        var store = Path.Combine(folder.Path, "store");
        var tree = Path.Combine(store, "sandboxes", "y");
        var mountPoint = Path.Combine(tree, "upper", "mnt");
        var host = Path.Combine(folder.Path, "host");
        Directory.CreateDirectory(mountPoint);
        Directory.CreateDirectory(host);
        File.WriteAllText(Path.Combine(host, "precious.txt"), "precious\n");
        RunAsRoot.Command("mount", "--bind", host, mountPoint);

        SafeTreeRemover.Remove(tree, store);

        Assert.False(Directory.Exists(tree));
        Assert.Equal("precious\n", File.ReadAllText(Path.Combine(host, "precious.txt")));
        Assert.DoesNotContain(mountPoint, File.ReadAllText("/proc/self/mountinfo"));
    }
}
