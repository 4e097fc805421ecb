using Sandbox.Images;
using Xunit;

namespace Sandbox.Tests.CommandLines;

/// <summary>A root build's launcher (Images.BuildNamespace) as plain data: no root, no builder.</summary>
[Trait("Area", "CommandLines")]
[Trait("Needs", "Nothing")]
public sealed class BuildLauncherCommandLineTests
{
    [Fact]
    public void The_builder_runs_in_a_pid_and_mount_namespace_that_dies_with_us_over_the_moved_staging_folder()
    {
        var die = new[] { "/usr/bin/setpriv", "--pdeathsig", "KILL", "--" };
        var builder = new[] { "/usr/sbin/debootstrap", "bookworm", BuildMountPoint.Path + "/rootfs" };

        var argv = BuildNamespace.LauncherArgv(die, "/usr/bin/unshare", "/usr/bin/bash", 10, builder);

        // The parent-death signal goes on unshare, whose death kills its child, the pid namespace's first
        // process, and with it the whole namespace; the mounts are private to the namespace.
        Assert.Equal(die.Concat(new[] { "/usr/bin/unshare", "--pid", "--fork", "--kill-child=KILL", "--mount-proc", "--propagation", "private", "--", "/usr/bin/bash", "-c" }),
            argv.Take(14));
        var script = argv[14];
        Assert.Contains("mount --no-canonicalize --move \"$1\" \"$2\"", script);
        Assert.Contains("exec 10<&-;", script); // the builder does not inherit the mount's descriptor
        // Paths travel as positional parameters, never in the script.
        Assert.DoesNotContain(BuildMountPoint.Path, script);
        Assert.Equal(new[] { "sandbox-build-root", "/proc/self/fd/10", BuildMountPoint.Path }.Concat(builder), argv.Skip(15));
    }
}
