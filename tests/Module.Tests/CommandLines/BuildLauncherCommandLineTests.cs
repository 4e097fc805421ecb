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

    [Fact]
    public void In_memory_the_builder_writes_to_a_tmpfs_on_its_target_and_the_tree_is_copied_beneath_only_once_it_succeeded()
    {
        var die = new[] { "/usr/bin/setpriv", "--pdeathsig", "KILL", "--" };
        var target = BuildMountPoint.Path + "/rootfs";
        var builder = new[] { "/usr/bin/mmdebstrap", "bookworm", target };

        var argv = BuildNamespace.LauncherArgv(die, "/usr/bin/unshare", "/usr/bin/bash", 10, builder, (target, 2L << 30));

        var script = argv[14];
        // The target and the size travel as parameters too, after the mount point.
        Assert.Equal(new[] { "sandbox-build-root", "/proc/self/fd/10", BuildMountPoint.Path, target, "2147483648" }.Concat(builder), argv.Skip(15));
        Assert.DoesNotContain(target, script);
        Assert.Contains("shift 4;", script);
        // The folder on the disk is held before the tmpfs covers it, and the builder does not inherit it.
        Assert.True(script.IndexOf("exec 9<\"$target\"", StringComparison.Ordinal) < script.IndexOf("mount -t tmpfs", StringComparison.Ordinal));
        Assert.Contains("\"$@\" 9<&-;", script);
        // The builder is the script's child, not exec'd: the copy runs after it, and only when it succeeded.
        Assert.DoesNotContain("exec \"$@\"", script);
        var copy = script.IndexOf("cp -a --one-file-system -- \"$target/.\" /proc/self/fd/9/", StringComparison.Ordinal);
        Assert.True(copy > script.IndexOf("exit $status; fi;", StringComparison.Ordinal), "the copy follows the builder's failure exits");
        Assert.Contains($"exit {BuildMemory.OutgrewExitCode};", script);
        Assert.Contains(BuildMemory.OutgrewMarker, script);
    }

    [Fact]
    public void Without_memory_the_script_execs_the_builder_as_before()
    {
        var builder = new[] { "/usr/bin/mmdebstrap", "bookworm", BuildMountPoint.Path + "/rootfs" };

        var script = BuildNamespace.LauncherArgv(Array.Empty<string>(), "/usr/bin/unshare", "/usr/bin/bash", 10, builder)[10];

        Assert.EndsWith("shift 2 && exec \"$@\"", script);
        Assert.DoesNotContain("tmpfs", script);
    }

    [Theory]
    [InlineData(" 11534336 kB", 11534336L * 1024)]
    [InlineData("0 kB", 0L)]
    [InlineData("lots", null)]
    [InlineData("-5 kB", null)]
    public void MemAvailable_is_read_in_kilobytes(string field, long? bytes) =>
        Assert.Equal(bytes, BuildMemory.ParseKilobytes(field));
}
