namespace Sandbox.Providers.CommandLines;

/// <summary>What an nspawn command line depends on beyond the sandbox: facts about the host, read by the provider.</summary>
internal sealed record NspawnHost
{
    /// <summary>PID 1 is systemd, so machined can register the container (else --register=no --keep-unit).</summary>
    public required bool RegistersWithMachined { get; init; }

    /// <summary>The cgroup.procs files of the cgroup nspawn starts in (SandboxCgroup.Create), or none: joined by the overlay launcher.</summary>
    public IReadOnlyList<string> CgroupProcs { get; init; } = Array.Empty<string>();

    /// <summary>
    /// nspawn is launched in a private mount namespace of its own already (a plain command's pid
    /// namespace brings one, see BackendProcess.OwnPidNamespaceHasOwnMountNamespace): the overlay
    /// launcher needs no unshare --mount.
    /// </summary>
    public bool InOwnMountNamespace { get; init; }
}

/// <summary>
/// The systemd-nspawn command line for a sandbox, as a pure function of its inputs: the container
/// part every nspawn of a sandbox shares (plain commands and the booted machine), then what a plain
/// command adds. nspawn runs over the overlay mounted in a private mount namespace per command
/// (never --ephemeral, which copies the whole tree). Root only.
/// </summary>
internal static class NspawnCommandLine
{
    public const string Backend = "backend";
    public const string Container = "container";
    public const string Capabilities = "capabilities";
    public const string Registration = "registration";
    public const string Network = "network";
    public const string Binds = "binds";
    public const string ReadOnlyRoot = "read-only root";
    public const string Process = "process";
    public const string Environment = "environment";
    public const string WorkingFolder = "working folder";
    public const string User = "user";
    public const string Command = "command";

    /// <summary>
    /// nspawn keeps bookkeeping under /run/systemd/nspawn; on a host whose /run is not a tmpfs it
    /// complains on every exit when cleaning it, so each command gets a private, empty one.
    /// </summary>
    public const string RuntimeFolder = "/run/systemd/nspawn";

    /// <summary>
    /// Where the launcher mounts the overlay in its private mount namespace, and nspawn's --directory:
    /// a folder of root's that no store's owner can rename or swap for a link, unlike the store's
    /// merged/ (nspawn resolves --directory by path itself, as root). Made by the first command.
    /// </summary>
    public const string RootMountPoint = "/run/sandbox/nspawn-root";

    /// <summary>
    /// -ReadOnlyRoot: where the launcher puts each writable path's folder (its index below this), beside
    /// <see cref="RootMountPoint"/> and outside nspawn's root, so nspawn's read-only remount leaves them writable.
    /// </summary>
    public const string WritablePathsMountPoint = "/run/sandbox/nspawn-writable";

    /// <summary>
    /// nspawn's default set is meant for a whole OS. Without a device cgroup (no systemd to set one
    /// up here) CAP_MKNOD would let root inside make a node for the host's disk, so it always goes;
    /// a plain command also loses mounting, tracing, rebooting and raw resource control. A booted
    /// init keeps CAP_SYS_ADMIN, which systemd needs for its own mounts: only inside the user
    /// namespace it boots in (see BootedMachine.Boot), so it governs nothing of the host's.
    /// </summary>
    public static readonly string[] BootDroppedCapabilities = { "CAP_MKNOD", "CAP_SYS_RAWIO", "CAP_SYS_MODULE" };

    public static readonly string[] CommandDroppedCapabilities = BootDroppedCapabilities.Concat(new[]
    {
        "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_BOOT", "CAP_SYS_RESOURCE", "CAP_SYS_TTY_CONFIG", "CAP_LINUX_IMMUTABLE", "CAP_NET_RAW",
    }).ToArray();

    /// <summary>
    /// What every nspawn of this sandbox gets: the overlay launcher (which joins its cgroup), its root, name,
    /// hostname, registration, network and binds. No journal link (the host has no journald to
    /// link to, and concurrent commands raced to make /var/log/journal).
    /// </summary>
    public static LabelledArgv ForContainer(SandboxView view, NspawnHost host, IEnumerable<string> droppedCapabilities)
    {
        var blocks = new List<ArgvBlock>();
        blocks.AddRange(OverlayMountCommandLine.Blocks(view, host.InOwnMountNamespace, host.CgroupProcs, RootMountPoint, RuntimeFolder));
        if (view.ReadOnlyRoot) blocks.Add(WritablePathsBlock(view));
        blocks.Add(ArgvBlock.Of(Backend, view.Tools.Backend));
        blocks.Add(ArgvBlock.Of(Container, "--quiet", $"--directory={RootMountPoint}", $"--machine={view.Name}",
            $"--hostname={view.Name}", "--link-journal=no"));
        blocks.Add(ArgvBlock.Of(Capabilities, $"--drop-capability={string.Join(',', droppedCapabilities)}"));
        blocks.Add(host.RegistersWithMachined
            ? ArgvBlock.Of(Registration, "--register=yes")
            // No machined to register with: nspawn stays in the cgroup it was started in.
            : ArgvBlock.Of(Registration, "--register=no", "--keep-unit"));
        blocks.Add(view.Network == NetworkMode.None ? ArgvBlock.Of(Network, "--private-network") : ArgvBlock.Of(Network));
        // -ReadOnlyRoot: nspawn remounts the root read-only (recursively), then binds each writable
        // path onto itself from its own mount outside the root (WritablePathsBlock), which stays
        // writable: a bind from inside the root ('+/path', or merged/path) would come out read-only.
        // nspawn sorts its binds by target, so a -Bind inside a writable path keeps its own ro/rw; it
        // makes missing targets only after the read-only remount, so WritablePathLayer made them at
        // Enter-Sandbox. The sources are folders of root's with the writable path's folder mounted
        // on each, reached by the engine in the overlay without links (DetachedOverlay): nspawn follows
        // links on a source, and the store's owner can put one in upper/ at any time. No --timezone:
        // it would bind the host's zone onto /etc/localtime, failing where the image has none.
        if (view.ReadOnlyRoot)
            blocks.Add(ArgvBlock.Of(ReadOnlyRoot, new[] { "--read-only", "--timezone=off" }.Concat(view.WritablePaths.Select((path, index) =>
                $"--bind={WritablePathMountPoint(index)}:{EscapeColons(path)}"))));
        // nspawn resolves a bind's target inside the container's root, so a planted link cannot
        // redirect it; ':' separates the sides in its syntax and is escaped in paths.
        blocks.Add(ArgvBlock.Of(Binds, view.Binds.Select(mount =>
            $"{(mount.ReadOnly ? "--bind-ro" : "--bind")}={EscapeColons(mount.HostPath)}:{EscapeColons(mount.SandboxPath)}")));
        return new LabelledArgv(blocks);
    }

    /// <summary>A plain command: its own container, with the command as PID 2 under nspawn's stub init.</summary>
    public static LabelledArgv ForCommand(SandboxView view, NspawnHost host, CommandInvocation command)
    {
        // Only a booted machine (BootedMachine.Boot) is still mounted from the layers' paths.
        if (view.HeldMounts is not { } held)
            throw new ArgumentException("A command's overlay is mounted by the engine and moved into place: HeldMounts is required.", nameof(view));
        if (view.ReadOnlyRoot && held.WritablePaths.Count != view.WritablePaths.Count)
            throw new ArgumentException("Each writable path is mounted by the engine: HeldMounts names one for each.", nameof(view));
        var blocks = ForContainer(view, host, CommandDroppedCapabilities).Blocks.ToList();
        // Piped stdin is read as a script (see InteractiveProcessRunner): nspawn's own pty would not end with it.
        blocks.Add(ArgvBlock.Of(Process, "--as-pid2",
            command.Interactive && command.StdInIsTerminal ? "--console=interactive" : "--console=pipe"));
        blocks.Add(ArgvBlock.Of(Environment, command.Environment.Select(variable => $"--setenv={variable.Key}={variable.Value}")));
        blocks.Add(ArgvBlock.Of(WorkingFolder, $"--chdir={command.WorkingDirectory}"));
        // nspawn resolves the user with getent inside the image (every Debian image has it), so the
        // user must exist there; the provider looked it up already and we pass its name.
        blocks.Add(command.User.Uid == 0 ? ArgvBlock.Of(User)
            : ArgvBlock.Of(User, $"--user={command.User.Name ?? throw SandboxErrors.UserNotFound(command.User.Uid.ToString(System.Globalization.CultureInfo.InvariantCulture), numericUidAllowed: false)}"));
        blocks.Add(ArgvBlock.Of(Command, new[] { "--" }.Concat(command.Argv)));
        return new LabelledArgv(blocks);
    }

    private static string EscapeColons(string path) => path.Replace(":", "\\:");

    public const string WritablePathsLabel = "writable paths";

    /// <summary>
    /// -ReadOnlyRoot: in the command's private mount namespace, after the overlay is moved into place,
    /// each writable path's folder in the overlay (held by the engine, named $1) bound onto its folder of
    /// root's ($2), made when missing; gone with the namespace. Its failure is our setup's (SetupMarker,
    /// exit 125), like the overlay's. Only a plain command has a read-only root, so the mounts are held.
    /// </summary>
    private static ArgvBlock WritablePathsBlock(SandboxView view)
    {
        var held = view.HeldMounts ?? throw new ArgumentException("-ReadOnlyRoot's writable paths are mounted by the engine: HeldMounts is required.", nameof(view));
        var argv = new List<string>
        {
            view.Tools.Sh, "-c",
            "while [ \"$1\" != -- ]; do { [ -d \"$2\" ] || mkdir -p \"$2\"; } && mount --no-canonicalize --bind \"$1\" \"$2\" || { echo \"" +
            OverlayLauncher.SetupMarker + " could not mount a writable path on $2\" >&2; exit " +
            OverlayLauncher.SetupExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) + "; }; shift 2; done; shift; exec \"$@\"",
            "sandbox-writable-paths",
        };
        for (var index = 0; index < held.WritablePaths.Count; index++)
            argv.AddRange(new[] { OverlayMountCommandLine.DescriptorName(held.WritablePaths[index]), WritablePathMountPoint(index) });
        argv.Add("--");
        return ArgvBlock.Of(WritablePathsLabel, argv);
    }

    private static string WritablePathMountPoint(int index) =>
        WritablePathsMountPoint + "/" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
