using System.Globalization;

namespace Sandbox.Providers.CommandLines;

/// <summary>
/// The bwrap command line for one command, as a pure function of its inputs. As root the overlay is
/// already mounted on the host at merged/ (the provider did it) and bwrap binds it by the descriptor
/// the provider held it by (--bind-fd): a path would be resolved again by bwrap, as root, and under
/// sudo the store's owner could rename the state folder away and put one whose merged/ leads to the
/// host's / in its place. Rootless the command line starts with the per-command mount namespace that
/// mounts it (OverlayMountCommandLine): its paths are resolved with the caller's own rights.
/// </summary>
internal static class BubblewrapCommandLine
{
    public const string Backend = "backend";
    public const string Namespaces = "namespaces";
    public const string Network = "network";
    public const string Lifetime = "lifetime";
    public const string Hostname = "hostname";
    public const string FileSystem = "file system";
    public const string Binds = "binds";
    public const string WritablePaths = "writable paths";
    public const string ReadOnlyRoot = "read-only root";
    public const string Privileges = "privileges";
    public const string Environment = "environment";
    public const string WorkingFolder = "working folder";
    public const string Command = "command";

    /// <summary>
    /// What root inside a sandbox may do: own, chmod and read any file, switch users, chroot, bind
    /// low ports. Not: mount, mknod, load modules, trace, change the clock or raw network access
    /// (Docker's default set without CAP_MKNOD and CAP_NET_RAW).
    /// </summary>
    public static readonly IReadOnlyList<string> RootCapabilities = new[]
    {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETFCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE",
    };

    public static LabelledArgv Build(SandboxView view, CommandInvocation command)
    {
        var blocks = new List<ArgvBlock>();
        if (!view.IsRoot) blocks.AddRange(OverlayMountCommandLine.Blocks(view));
        blocks.Add(ArgvBlock.Of(Backend, view.Tools.Backend));

        // Every namespace but the user one: we are already root in a user namespace (rootless) or
        // real root, and a nested one made by bwrap would map only uid 0, hiding the image's other
        // owners. Root's power is cut down to a container's usual capabilities instead (Privileges).
        blocks.Add(ArgvBlock.Of(Namespaces, "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"));
        // Own network namespace (loopback only) unless the host's network was asked for.
        blocks.Add(view.Network == NetworkMode.None ? ArgvBlock.Of(Network, "--unshare-net") : ArgvBlock.Of(Network));

        var lifetime = new List<string> { "--die-with-parent" };
        // setsid keeps a sandboxed command from pushing keystrokes into our terminal (TIOCSTI). An
        // interactive shell keeps its session: it is already the leader of one whose controlling
        // terminal is a pty of its own (InteractiveProcessRunner), and needs it for job control.
        if (!command.Interactive) lifetime.Add("--new-session");
        // The command runs as PID 1 of its namespace, as in a container without --init. bwrap's own
        // reaper would report the command's exit through a pipe and exit without waiting for it,
        // and the kernel would then never add the command's CPU time and memory to ours (Get-
        // SandboxStat showed 0 s CPU for a busy loop). A shell keeps its reaper.
        if (!command.Interactive) lifetime.Add("--as-pid-1");
        blocks.Add(ArgvBlock.Of(Lifetime, lifetime));

        blocks.Add(ArgvBlock.Of(Hostname, "--hostname", view.Name));
        var held = view.IsRoot
            ? view.HeldSources ?? throw new ArgumentException("As root the overlay is bound by descriptor: HeldSources is required.", nameof(view))
            : null;
        blocks.Add(ArgvBlock.Of(FileSystem, Bind(held?.Root, view.Overlay.Merged, "/").Concat(new[] {
            // Private /dev with only the harmless nodes, and a /proc of the sandbox's pid namespace.
            "--dev", "/dev", "--proc", "/proc",
            // /proc/sys is the host's kernel settings: read-only, or root inside could rewrite core_pattern.
            "--ro-bind", "/proc/sys", "/proc/sys",
            // /tmp and /var/tmp are in the layer (OverlayLayer.Create); /run is empty at every start.
            "--tmpfs", "/run" })));

        // -ReadOnlyRoot, first half: each writable path bound onto itself from the layer, a mount of
        // its own that the later read-only remount of / does not reach. Before the -Bind binds, so a
        // bind inside a writable path keeps its own ro/rw. As root each is held beneath the held root
        // (bwrap realpaths a path source); rootless the sources are host paths in which WritablePathLayer
        // has checked that no part is a link.
        if (view.ReadOnlyRoot)
            blocks.Add(ArgvBlock.Of(WritablePaths, view.WritablePaths.SelectMany((path, index) =>
                Bind(held?.WritablePaths[index], view.Overlay.Merged + path, path))));

        // The provider has checked each target is not a link planted by the sandbox (BindTargetGuard):
        // bwrap follows links on a bind's target.
        blocks.Add(ArgvBlock.Of(Binds, view.Binds.SelectMany(mount =>
            new[] { mount.ReadOnly ? "--ro-bind" : "--bind", mount.HostPath, mount.SandboxPath })));

        // -ReadOnlyRoot, second half: / read-only, after every bind (bwrap makes missing bind targets
        // as folders in /, which needs it writable). Only the root mount (bwrap's remount is not
        // recursive): writable paths, binds, /dev, /proc and the fresh /run keep theirs. The command
        // holds no CAP_SYS_ADMIN to remount it; a user namespace it makes inside gets the mount
        // locked read-only by the kernel (MNT_LOCK_READONLY), as it came from a more privileged one.
        if (view.ReadOnlyRoot) blocks.Add(ArgvBlock.Of(ReadOnlyRoot, "--remount-ro", "/"));

        blocks.Add(ArgvBlock.Of(Privileges, command.User.Uid != 0
            // A user namespace of its own maps the chosen uid; bwrap drops every capability for it.
            ? new[] { "--unshare-user", "--uid", Text(command.User.Uid), "--gid", Text(command.User.Gid) }
            : new[] { "--cap-drop", "ALL" }.Concat(RootCapabilities.SelectMany(c => new[] { "--cap-add", c }))));

        // Nothing of the caller's environment leaks in: only the composed one.
        blocks.Add(ArgvBlock.Of(Environment, new[] { "--clearenv" }.Concat(
            command.Environment.SelectMany(variable => new[] { "--setenv", variable.Key, variable.Value }))));
        blocks.Add(ArgvBlock.Of(WorkingFolder, "--chdir", command.WorkingDirectory));
        // "--" so that a command whose name starts with "-" is never taken for an option of bwrap.
        blocks.Add(ArgvBlock.Of(Command, new[] { "--" }.Concat(command.Argv)));
        return new LabelledArgv(blocks);
    }

    /// <summary>
    /// A writable bind of <paramref name="target"/>: from the descriptor the backend holds, else from
    /// <paramref name="source"/>. bwrap resolves a descriptor's name to a path too, but after mounting
    /// it compares the mount with the descriptor (device and inode) and fails on a swap in between.
    /// </summary>
    private static string[] Bind(int? descriptor, string source, string target) => descriptor is { } held
        ? new[] { "--bind-fd", held.ToString(CultureInfo.InvariantCulture), target }
        : new[] { "--bind", source, target };

    private static string Text(uint id) => id.ToString(CultureInfo.InvariantCulture);
}
