using Sandbox.Providers;
using Sandbox.Providers.CommandLines;
using Xunit;
using static Sandbox.Providers.CommandLines.NspawnCommandLine;
using static Sandbox.Tests.CommandLines.CommandLineSamples;

namespace Sandbox.Tests.CommandLines;

/// <summary>The systemd-nspawn command line as plain data: no root, no nspawn, no cgroups.</summary>
[Trait("Area", "CommandLines")]
[Trait("Needs", "Nothing")]
public sealed class NspawnCommandLineTests
{
    private const string Nspawn = "/usr/bin/systemd-nspawn";
    private const string CommandCapabilities =
        "--drop-capability=CAP_MKNOD,CAP_SYS_RAWIO,CAP_SYS_MODULE,CAP_SYS_ADMIN,CAP_SYS_PTRACE,CAP_SYS_BOOT,CAP_SYS_RESOURCE,CAP_SYS_TTY_CONFIG,CAP_LINUX_IMMUTABLE,CAP_NET_RAW";

    private static readonly NspawnHost PlainHost = new() { RegistersWithMachined = false };

    [Fact]
    public void A_command_is_nspawn_over_an_overlay_mounted_in_its_own_mount_namespace()
    {
        var line = ForCommand(View(Nspawn, isRoot: true), PlainHost, Invocation("echo", "hi"));

        Assert.Equal(new[] { OverlayMountCommandLine.NamespaceLabel, OverlayMountCommandLine.OverlayLabel, Backend, Container,
            Capabilities, Registration, Network, Binds, Process, NspawnCommandLine.Environment, WorkingFolder, User, Command }, line.Labels);
        // As root: no user namespace. The overlay the engine mounted detached is moved onto a folder of
        // root's, and nspawn runs there: no path of the store's is resolved after the engine held it.
        Assert.Equal(new[] { "/usr/bin/unshare", "--mount", "--propagation", "private", "--" }, line[OverlayMountCommandLine.NamespaceLabel]);
        Assert.Equal(new[] { "sandbox-overlay", "/", $"/proc/self/fd/{HeldOverlay}", RootMountPoint, RuntimeFolder, "--" }, line[OverlayMountCommandLine.OverlayLabel].Skip(3));
        Assert.Contains("mount --no-canonicalize --move \"$2\" \"$3\"", line[OverlayMountCommandLine.OverlayLabel][2]);
        Assert.Equal(new[]
        {
            Nspawn,
            "--quiet", $"--directory={RootMountPoint}", "--machine=box", "--hostname=box", "--link-journal=no",
            CommandCapabilities,
            "--register=no", "--keep-unit",
            "--private-network",
            "--as-pid2", "--console=pipe",
            "--setenv=PATH=/usr/bin:/bin", "--setenv=HOME=/root",
            "--chdir=/",
            "--", "echo", "hi",
        }, line.Argv.SkipWhile(arg => arg != Nspawn));
    }

    [Fact]
    public void The_overlay_launcher_joins_the_cgroup_first_so_every_process_after_it_is_in_the_commands_cgroup()
    {
        var procs = new[] { "/sys/fs/cgroup/unified/sandbox.slice/x/run-1/cgroup.procs", "/sys/fs/cgroup/systemd/sandbox.slice/x/run-1/cgroup.procs" };
        var line = ForCommand(View(Nspawn, isRoot: true), PlainHost with { CgroupProcs = procs }, Invocation("true"));

        // One shell joins the cgroups, then mounts: no shell of its own for the join.
        var overlay = line[OverlayMountCommandLine.OverlayLabel];
        Assert.StartsWith("fail() {", overlay[2]);
        Assert.True(overlay[2].IndexOf("cgroup", StringComparison.Ordinal) < overlay[2].IndexOf("mount --no-canonicalize --move", StringComparison.Ordinal));
        Assert.Equal(new[] { "sandbox-overlay", procs[0], procs[1], "--", "/", $"/proc/self/fd/{HeldOverlay}", RootMountPoint, RuntimeFolder, "--" }, overlay.Skip(3));
        Assert.Single(line.Argv, arg => arg == "/bin/sh" || arg.EndsWith("/sh", StringComparison.Ordinal));
    }

    [Fact]
    public void A_command_is_never_mounted_from_the_stores_paths()
    {
        var error = Assert.Throws<ArgumentException>(() => ForCommand(View(Nspawn, isRoot: true) with { HeldMounts = null }, PlainHost, Invocation("true")));

        Assert.Contains("HeldMounts", error.Message);
    }

    [Fact]
    public void A_booted_machine_mounts_from_its_layers_paths_onto_the_same_folder_of_roots()
    {
        // -Boot: the machine's nspawn is started through the idmapped views of the layers (BootedMachine.Boot), by path.
        var line = ForContainer(View(Nspawn, isRoot: true) with { HeldMounts = null }, PlainHost, BootDroppedCapabilities);

        Assert.Equal(new[] { "sandbox-overlay", "/", OverlayOptions, RootMountPoint, RuntimeFolder, "--" }, line[OverlayMountCommandLine.OverlayLabel].Skip(3));
        Assert.Contains("mount -t overlay sandbox-overlay -o \"$2\" \"$3\"", line[OverlayMountCommandLine.OverlayLabel][2]);
        Assert.Contains($"--directory={RootMountPoint}", line[Container]);
    }

    [Fact]
    public void A_command_launched_in_its_own_mount_namespace_gets_no_unshare_of_its_own()
    {
        var line = ForCommand(View(Nspawn, isRoot: true), PlainHost with { InOwnMountNamespace = true }, Invocation("true"));

        Assert.DoesNotContain(OverlayMountCommandLine.NamespaceLabel, line.Labels);
        Assert.Equal(OverlayMountCommandLine.OverlayLabel, line.Labels.First());
    }

    [Fact]
    public void With_systemd_as_pid_1_the_container_is_registered()
    {
        Assert.Equal(new[] { "--register=yes" }, ForCommand(View(Nspawn, isRoot: true), PlainHost with { RegistersWithMachined = true }, Invocation("true"))[Registration]);
        Assert.Equal(new[] { "--register=no", "--keep-unit" }, ForCommand(View(Nspawn, isRoot: true), PlainHost, Invocation("true"))[Registration]);
    }

    [Fact]
    public void Binds_are_one_word_each_with_colons_escaped()
    {
        var line = ForCommand(View(Nspawn, isRoot: true, binds: new[]
        {
            new BindMount("/srv/data", "/data", ReadOnly: true),
            new BindMount("/odd:name", "/out", ReadOnly: false),
        }), PlainHost, Invocation("true"));

        Assert.Equal(new[] { "--bind-ro=/srv/data:/data", "--bind=/odd\\:name:/out" }, line[Binds]);
    }

    [Fact]
    public void Network_none_is_a_private_network_and_host_shares_it()
    {
        Assert.Equal(new[] { "--private-network" }, ForCommand(View(Nspawn, isRoot: true, NetworkMode.None), PlainHost, Invocation("true"))[Network]);
        Assert.Empty(ForCommand(View(Nspawn, isRoot: true, NetworkMode.Host), PlainHost, Invocation("true"))[Network]);
    }

    [Fact]
    public void A_user_is_passed_by_its_name_in_the_image_and_root_passes_none()
    {
        var asUser = Invocation("id") with { User = new PasswdFile.Account(1000, 1000, "/home/u", "u"), WorkingDirectory = "/home/u" };
        var line = ForCommand(View(Nspawn, isRoot: true), PlainHost, asUser);

        Assert.Equal(new[] { "--user=u" }, line[User]);
        Assert.Equal(new[] { "--chdir=/home/u" }, line[WorkingFolder]);
        Assert.Empty(ForCommand(View(Nspawn, isRoot: true), PlainHost, Invocation("id"))[User]);
    }

    [Fact]
    public void A_bare_uid_the_image_does_not_list_is_refused_with_the_fix()
    {
        var unknown = Invocation("id") with { User = new PasswdFile.Account(4242, 4242, "/", null) };

        var error = Assert.Throws<SandboxException>(() => ForCommand(View(Nspawn, isRoot: true), PlainHost, unknown));
        Assert.Equal("UserNotFound", error.ErrorId);
        Assert.Equal(SandboxErrorKind.ObjectNotFound, error.Kind);
        Assert.Contains("4242", error.Message);
        Assert.Contains("useradd", error.Fix);
    }

    [Fact]
    public void Only_an_interactive_command_on_a_terminal_gets_nspawns_console()
    {
        Assert.Equal(new[] { "--as-pid2", "--console=interactive" },
            ForCommand(View(Nspawn, isRoot: true), PlainHost, Invocation("bash") with { Interactive = true, StdInIsTerminal = true })[Process]);
        // A script piped into a shell must see its end: nspawn's own pty would never give it one.
        Assert.Equal(new[] { "--as-pid2", "--console=pipe" },
            ForCommand(View(Nspawn, isRoot: true), PlainHost, Invocation("bash") with { Interactive = true, StdInIsTerminal = false })[Process]);
    }

    [Fact]
    public void A_booted_container_keeps_sys_admin_and_has_no_command_part()
    {
        var line = ForContainer(View(Nspawn, isRoot: true), PlainHost, BootDroppedCapabilities);

        Assert.Equal(new[] { OverlayMountCommandLine.NamespaceLabel, OverlayMountCommandLine.OverlayLabel, Backend, Container,
            Capabilities, Registration, Network, Binds }, line.Labels);
        Assert.Equal(new[] { "--drop-capability=CAP_MKNOD,CAP_SYS_RAWIO,CAP_SYS_MODULE" }, line[Capabilities]);
    }
}
