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
        // The target, the size and unshare travel as parameters too, after the mount point.
        Assert.Equal(new[] { "sandbox-build-root", "/proc/self/fd/10", BuildMountPoint.Path, target, "2147483648", "/usr/bin/unshare", "/usr/bin/bash" }.Concat(builder), argv.Skip(15));
        Assert.DoesNotContain(target, script);
        Assert.Contains("shift 6;", script);
        // The folder on the disk is held before the tmpfs covers it.
        Assert.True(script.IndexOf("exec 9<\"$target\"", StringComparison.Ordinal) < script.IndexOf("mount -t tmpfs", StringComparison.Ordinal));
        // The builder is the first process of a pid namespace with its own /proc, without descriptor 9: what
        // it leaves running dies with it, before the copy, and it cannot see this script's descriptors.
        Assert.Contains("\"$unshare\" --pid --fork --kill-child=KILL --mount-proc -- \"$bash\" -c '\"$@\"; exit $?' sandbox-builder \"$@\" 9<&-; status=$?;", script);
        Assert.DoesNotContain("exec \"$@\"", script);
        // Out of room (blocks or inodes) or killed: reported as a fallback, before and whatever the builder's status.
        var outgrew = script.IndexOf("the build outgrew its memory", StringComparison.Ordinal);
        Assert.True(outgrew < script.IndexOf("[ $status -eq 0 ] || exit $status;", StringComparison.Ordinal));
        Assert.Contains("stat -f -c '%a %S %d'", script);
        Assert.Contains("[ $status -eq 137 ]", script);
        Assert.Contains($"{BuildMemory.FallbackMarker} no tmpfs could be mounted", script);
        Assert.Contains($"exit {BuildMemory.FallbackExitCode};", script);
        // The copy comes last, keeps every xattr or fails, and does not cross into a mount left in the tree.
        var copy = script.IndexOf("cp -dR --preserve=mode,ownership,timestamps,links,xattr --one-file-system -- \"$target/.\" /proc/self/fd/9/", StringComparison.Ordinal);
        Assert.True(copy > script.IndexOf("[ $status -eq 0 ] || exit $status;", StringComparison.Ordinal), "the copy follows the builder's failure exits");
        Assert.DoesNotContain("cp -a", script);
        Assert.Contains("find /proc/self/fd/9/ -mindepth 1 -delete;", script); // a failed copy leaves no partial tree for the retry
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

    [Fact]
    public void MemAvailable_is_taken_from_meminfo() =>
        Assert.Equal(2048L * 1024, BuildMemory.MemAvailable("MemTotal:       8000 kB\nMemFree:  100 kB\nMemAvailable:    2048 kB\n"));

    private static string V1(Support.TemporaryFolder root) => Path.Combine(root.Path, "memory");

    [Fact]
    public void The_cgroup_headroom_is_the_least_room_under_any_memory_limit_from_the_processs_cgroups_up()
    {
        using var root = new Support.TemporaryFolder("cgroups");
        void Write(string relative, string text)
        {
            var path = Path.Combine(root.Path, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text + "\n");
        }
        // v2: the slice limits to 3 GiB with 1 GiB used; the service has memory.high 1.5 GiB with 1 GiB used; max elsewhere.
        Write("user.slice/memory.max", (3L << 30).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Write("user.slice/memory.current", (1L << 30).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Write("user.slice/app.service/memory.max", "max");
        Write("user.slice/app.service/memory.high", (3L << 29).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Write("user.slice/app.service/memory.current", (1L << 30).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1L << 29, BuildMemory.CgroupHeadroom("0::/user.slice/app.service\n", root.Path, V1(root)));
        // v1 memory controller (a hybrid host's), its unlimited value, and a container's "/" with files at its root.
        Write("memory/ci/memory.limit_in_bytes", "9223372036854771712");
        Write("memory/ci/memory.usage_in_bytes", "1000");
        Write("memory/memory.limit_in_bytes", (2L << 30).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Write("memory/memory.usage_in_bytes", (1L << 30).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1L << 30, BuildMemory.CgroupHeadroom("7:memory:/ci\n3:cpu,cpuacct:/ci\n0::/nowhere\n", root.Path, V1(root)));
        // Nothing limited, nothing readable: no headroom figure at all.
        Assert.Null(BuildMemory.CgroupHeadroom("0::/nowhere\n2:pids:/x\n", root.Path, V1(root)));
        Assert.Null(BuildMemory.CgroupHeadroom("garbage\n", root.Path, V1(root)));
    }
}
