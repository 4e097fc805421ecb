using Sandbox.Providers;
using Sandbox.Providers.CommandLines;
using Xunit;
using static Sandbox.Providers.CommandLines.BubblewrapCommandLine;
using static Sandbox.Tests.CommandLines.CommandLineSamples;

namespace Sandbox.Tests.CommandLines;

/// <summary>
/// The bwrap command line as plain data: no root, no bwrap, no store. Each test states the whole
/// block it is about, so a flag added, dropped or moved shows up here.
/// </summary>
[Trait("Area", "CommandLines")]
[Trait("Needs", "Nothing")]
public sealed class BubblewrapCommandLineTests
{
    private const string Bwrap = "/usr/bin/bwrap";

    private static readonly string[] RootCapabilityFlags =
    {
        "--cap-drop", "ALL",
        "--cap-add", "CAP_CHOWN", "--cap-add", "CAP_DAC_OVERRIDE", "--cap-add", "CAP_FOWNER", "--cap-add", "CAP_FSETID",
        "--cap-add", "CAP_KILL", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETFCAP",
        "--cap-add", "CAP_NET_BIND_SERVICE", "--cap-add", "CAP_SYS_CHROOT", "--cap-add", "CAP_AUDIT_WRITE",
    };

    [Fact]
    public void As_root_a_command_is_bwrap_over_the_overlay_mounted_on_the_host()
    {
        var line = Build(View(Bwrap, isRoot: true), Invocation("echo", "hi"));

        Assert.Equal(new[] { Backend, BubblewrapCommandLine.Namespaces, Network, Lifetime, Hostname, FileSystem, Binds, Privileges, BubblewrapCommandLine.Environment, WorkingFolder, Command },
            line.Labels);
        var expected = new[]
        {
            Bwrap,
            "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try",
            "--unshare-net",
            "--die-with-parent", "--new-session", "--as-pid-1",
            "--hostname", "box",
            "--bind-fd", "11", "/", "--dev", "/dev", "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys", "--tmpfs", "/run",
        }.Concat(RootCapabilityFlags).Concat(new[]
        {
            "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/root",
            "--chdir", "/",
            "--", "echo", "hi",
        });
        Assert.Equal(expected, line.Argv);
    }

    [Fact]
    public void As_root_the_overlay_is_bound_only_by_the_descriptor_the_provider_held_never_by_its_path()
    {
        // bwrap resolves a path source again, as root: under sudo the store's owner could have made
        // merged/ lead to the host's / by then. Without a held descriptor there is no root command line.
        var line = Build(View(Bwrap, isRoot: true), Invocation("true"));

        Assert.Equal(new[] { "--bind-fd", HeldRoot.ToString(System.Globalization.CultureInfo.InvariantCulture), "/" }, line[FileSystem].Take(3));
        Assert.DoesNotContain(line.Argv, arg => arg.Contains(State, StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => Build(View(Bwrap, isRoot: true) with { HeldSources = null }, Invocation("true")));
        // Rootless the path is resolved with the caller's own rights, in the command's own namespace.
        Assert.Equal(new[] { "--bind", Merged, "/" }, Build(View(Bwrap, isRoot: false), Invocation("true"))[FileSystem].Take(3));
    }

    [Fact]
    public void Rootless_a_command_first_mounts_the_overlay_in_a_user_namespace_with_the_subordinate_ids()
    {
        var line = Build(View(Bwrap, isRoot: false, ids: new Sandbox.Namespaces.SubordinateIds(100000, 200000, 65536)), Invocation("true"));

        Assert.Equal(new[] { OverlayMountCommandLine.NamespaceLabel, OverlayMountCommandLine.OverlayLabel, Backend, BubblewrapCommandLine.Namespaces, Network,
            Lifetime, Hostname, FileSystem, Binds, Privileges, BubblewrapCommandLine.Environment, WorkingFolder, Command }, line.Labels);
        Assert.Equal(new[] { "/usr/bin/unshare", "--map-root-user", "--map-users=100000,1,65536", "--map-groups=200000,1,65536",
            "--mount", "--propagation", "private", "--" }, line[OverlayMountCommandLine.NamespaceLabel]);
        var overlay = line[OverlayMountCommandLine.OverlayLabel];
        Assert.Equal(new[] { "/bin/sh", "-c" }, overlay.Take(2));
        // The script is fixed text; every path travels as a positional parameter after it.
        Assert.Equal(new[] { "sandbox-overlay", "/", OverlayOptions + ",userxattr", Merged, "--" }, overlay.Skip(3));
        Assert.DoesNotContain(Merged, overlay[2]);
        Assert.Equal(new[] { Bwrap }, line[Backend]);
        Assert.Equal(RootCapabilityFlags, line[Privileges]);
    }

    [Fact]
    public void Rootless_without_subordinate_ids_maps_only_the_user_as_root()
    {
        var line = Build(View(Bwrap, isRoot: false), Invocation("true"));

        Assert.Equal(new[] { "/usr/bin/unshare", "--map-root-user", "--mount", "--propagation", "private", "--" },
            line[OverlayMountCommandLine.NamespaceLabel]);
    }

    [Fact]
    public void Binds_keep_their_order_and_read_only_ones_use_ro_bind()
    {
        var line = Build(View(Bwrap, isRoot: true, binds: new[]
        {
            new BindMount("/srv/data", "/data", ReadOnly: true),
            new BindMount("/home/me/out", "/out", ReadOnly: false),
        }), Invocation("true"));

        Assert.Equal(new[] { "--ro-bind", "/srv/data", "/data", "--bind", "/home/me/out", "/out" }, line[Binds]);
        // Binds come after the root and /proc/sys, so nothing of the base file system covers them.
        Assert.True(line.Labels.ToList().IndexOf(Binds) > line.Labels.ToList().IndexOf(FileSystem));
    }

    [Fact]
    public void Network_none_unshares_the_network_and_host_keeps_it()
    {
        Assert.Equal(new[] { "--unshare-net" }, Build(View(Bwrap, isRoot: true, NetworkMode.None), Invocation("true"))[Network]);
        Assert.Empty(Build(View(Bwrap, isRoot: true, NetworkMode.Host), Invocation("true"))[Network]);
    }

    [Fact]
    public void Another_user_gets_a_user_namespace_of_its_own_and_no_capabilities()
    {
        var command = Invocation("id") with { User = new PasswdFile.Account(1000, 1001, "/home/u", "u") };

        Assert.Equal(new[] { "--unshare-user", "--uid", "1000", "--gid", "1001" }, Build(View(Bwrap, isRoot: false), command)[Privileges]);
    }

    [Fact]
    public void The_environment_is_cleared_then_set_in_the_given_order()
    {
        var command = Invocation("env") with
        {
            Environment = new List<KeyValuePair<string, string>>
            {
                new("PATH", "/bin"), new("HOME", "/root"), new("A", "x y"), new("EMPTY", ""),
            },
        };

        Assert.Equal(new[] { "--clearenv", "--setenv", "PATH", "/bin", "--setenv", "HOME", "/root", "--setenv", "A", "x y", "--setenv", "EMPTY", "" },
            Build(View(Bwrap, isRoot: true), command)[BubblewrapCommandLine.Environment]);
    }

    [Fact]
    public void The_working_folder_and_the_command_come_last_and_a_dash_command_is_not_an_option()
    {
        var line = Build(View(Bwrap, isRoot: true), Invocation("-weird", "--x") with { WorkingDirectory = "/srv/app" });

        Assert.Equal(new[] { "--chdir", "/srv/app" }, line[WorkingFolder]);
        Assert.Equal(new[] { "--", "-weird", "--x" }, line[Command]);
        Assert.Equal(new[] { "--chdir", "/srv/app", "--", "-weird", "--x" }, line.Argv.TakeLast(5));
    }

    [Fact]
    public void An_interactive_shell_keeps_its_session_and_bwraps_reaper()
    {
        var line = Build(View(Bwrap, isRoot: true), Invocation("/bin/bash") with { Interactive = true });

        Assert.Equal(new[] { "--die-with-parent" }, line[Lifetime]);
    }
}
