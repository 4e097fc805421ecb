using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// /tmp and /var/tmp behave as in a container: mode 1777 (so apt and any non-root user can make
/// temporary files), kept from one command to the next, gone with the sandbox. The image here has
/// neither folder, so the sandbox must make them itself.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class ScratchFolderTests
{
    [SkippableFact]
    public void Tmp_is_sticky_world_writable_and_persists_in_a_root_Bubblewrap_sandbox()
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        using var harness = new InProcessHarness();
        Check(harness);
    }

    [SkippableFact]
    public void Tmp_is_sticky_world_writable_and_persists_in_a_rootless_Bubblewrap_sandbox()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var harness = new RemoteHarness();
        Check(harness);
    }

    private static void Check(ISandboxHarness harness)
    {
        using var scratch = new TemporaryFolder("scratch-tree");
        var tree = BusyboxTree.Create(Path.Combine(scratch.Path, "rootfs"));
        Directory.Delete(Path.Combine(tree, "tmp"), recursive: true);
        Directory.Delete(Path.Combine(tree, "var", "tmp"), recursive: true);
        harness.Import(HarnessFixture.ImageName, tree);
        var sandbox = harness.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });

        var modes = harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "stat", "-c", "%a %U", "/", "/var", "/tmp", "/var/tmp" } });
        Assert.Equal("755 root\n755 root\n1777 root\n1777 root\n", modes.StdOut);

        // A non-root user inside can write there too, and what is written stays for the next command.
        var write = harness.Invoke(sandbox.Id, new SandboxCommand
        {
            Argv = new[] { "sh", "-c", "echo kept > /tmp/a && echo also > /var/tmp/b" }, User = "tester",
        });
        Assert.True(write.ExitCode == 0, write.StdErr);
        var read = harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "cat", "/tmp/a", "/var/tmp/b" } });
        Assert.Equal("kept\nalso\n", read.StdOut);

        // A second sandbox of the same image starts with them empty: they go with their sandbox.
        var other = harness.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        var empty = harness.Invoke(other.Id, new SandboxCommand { Argv = new[] { "ls", "-A", "/tmp", "/var/tmp" } });
        Assert.Equal("/tmp:\n\n/var/tmp:\n", empty.StdOut);
        harness.Remove(other.Id);
        harness.Remove(sandbox.Id);
    }
}
