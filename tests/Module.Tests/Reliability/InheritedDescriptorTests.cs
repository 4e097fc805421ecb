using System.Runtime.InteropServices;
using Sandbox.Native;
using Sandbox.Processes;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Whatever started the engine may hold descriptors without close-on-exec (a shell's
/// `pwsh 20&lt;/some/folder`, a CI runner's pipes). A command must inherit none of them: through
/// /proc/self/fd/N an inherited folder is the host's file system, outside every mount namespace.
/// The test process plays that parent: it holds a host folder on a high descriptor without
/// close-on-exec while the engine (in this process) runs a command that looks for it.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class InheritedDescriptorTests
{
    private const int O_RDONLY = 0, O_DIRECTORY = 0x10000; // x86-64 values, as in Native/OpenAt2.cs
    private const int LowestHeldDescriptor = 200, F_DUPFD = 0;

    [SkippableFact]
    public void A_bubblewrap_command_inherits_no_descriptor_of_the_process_that_started_the_engine() =>
        Check(ProviderName.Bubblewrap);

    [SkippableFact]
    public void An_nspawn_command_inherits_no_descriptor_of_the_process_that_started_the_engine()
    {
        Skip.IfNot(ToolLocator.Find("systemd-nspawn") is not null, "systemd-nspawn is not installed (tools/setup.sh installs it).");
        Check(ProviderName.Nspawn);
    }

    private static void Check(ProviderName provider)
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        using var scratch = new TemporaryFolder("inherited-fd");
        var secret = $"HOSTSECRET-{Guid.NewGuid():N}";
        var hostFolder = Directory.CreateDirectory(Path.Combine(scratch.Path, "host")).FullName;
        File.WriteAllText(Path.Combine(hostFolder, "secret.txt"), secret);

        var opened = LibC.open(hostFolder, O_RDONLY | O_DIRECTORY, 0);
        Assert.True(opened >= 0, "could not open the host folder");
        var held = -1;
        try
        {
            // A free number from 200 up, never a fixed one: dup2 onto a number another test's engine holds
            // would close theirs, and their later close would close ours. F_DUPFD leaves close-on-exec off.
            held = fcntl(opened, F_DUPFD, LowestHeldDescriptor);
            Assert.True(held >= LowestHeldDescriptor, "could not copy the descriptor");
            using var harness = new InProcessHarness();
            harness.Import(HarnessFixture.ImageName, BusyboxTree.Create(Path.Combine(scratch.Path, "rootfs")));
            var sandbox = harness.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = provider });
            var result = harness.Invoke(sandbox.Id, new SandboxCommand
            {
                Argv = new[] { "sh", "-c", $"cat /proc/self/fd/{held}/secret.txt; ls -l /proc/$$/fd/; true" },
            });
            harness.Remove(sandbox.Id);

            Assert.Equal(0, result.ExitCode);
            Assert.DoesNotContain(secret, result.StdOut);
            Assert.DoesNotContain($" {held} -> ", result.StdOut);
            // The folder is still held here: the test really offered the descriptor.
            Assert.Equal(secret, File.ReadAllText($"/proc/self/fd/{held}/secret.txt"));
        }
        finally
        {
            if (held >= 0) LibC.close(held);
            LibC.close(opened);
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int fcntl(int fd, int command, int argument);
}
