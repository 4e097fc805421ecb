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

    /// <summary>
    /// Every hostile tree a sandbox can make: 5000 nested folders (far beyond PATH_MAX; made as five
    /// chains of 1000 moved into one another, since no shell can cd that deep), folders of
    /// mode 000 and without x, unreadable files, a FIFO, names with a newline, with bytes that are not
    /// UTF-8 and of 255 bytes, files of another owner (rootless: a subordinate id).
    /// </summary>
    private const string HostileTree = """
        set -e
        p=d; i=1
        while [ $i -lt 1000 ]; do p=$p/d; i=$((i+1)); done
        for k in 1 2 3 4 5; do mkdir -p /deep/c$k/$p && echo bottom > /deep/c$k/$p/file; done
        for k in 1 2 3 4; do mv /deep/c$k /deep/c$((k+1))/$p/; done
        mkdir -p /perm/locked/inner /perm/nox
        echo x > /perm/locked/inner/f && chmod 000 /perm/locked/inner /perm/locked
        echo s > /perm/unreadable && chmod 000 /perm/unreadable
        touch /perm/nox/f && chmod 600 /perm/nox
        mkdir /perm/owned && touch /perm/owned/f && chown -R 1000:1000 /perm/owned && chmod 500 /perm/owned
        mkfifo /perm/fifo
        mkdir /names && cd /names
        touch "$(printf 'new\nline')" "$(printf 'bad\377\376bytes')" "$(printf '%0255d' 0)"
        echo made
        """;

    [SkippableFact]
    public void Removes_any_tree_a_root_sandbox_makes()
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        using var harness = new InProcessHarness();
        RemovesHostileTree(harness);
    }

    [SkippableFact]
    public void Removes_any_tree_a_rootless_sandbox_makes()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var harness = new RemoteHarness();
        RemovesHostileTree(harness);
    }

    private static void RemovesHostileTree(ISandboxHarness harness)
    {
        using var scratch = new TemporaryFolder("remover-hostile");
        harness.Import(HarnessFixture.ImageName, BusyboxTree.Create(Path.Combine(scratch.Path, "rootfs")));
        var sandbox = harness.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        var made = harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", HostileTree } });
        Assert.True(made.StdOut == "made\n", made.StdErr);
        var state = harness.StateFolder(sandbox.Id);
        Assert.True(Directory.Exists(Path.Combine(state, "upper", "deep", "c5", "d")));

        harness.Remove(sandbox.Id);

        Assert.False(Directory.Exists(state), $"{state} is gone");
        Assert.Empty(harness.List());
    }
}
