namespace Sandbox.Providers.CommandLines;

/// <summary>
/// The prefix shared by the namespace providers' per-command overlays: enter a private mount
/// namespace (rootless: inside a user namespace where the user is root), mount the sandbox's overlay
/// there, mount fresh tmpfs folders the backend needs private, then exec the backend. Mounts made
/// this way never exist on the host, so a killed command cannot leak one and removal never meets a
/// bind mount. Its own failures exit <see cref="OverlayLauncher.SetupExitCode"/> with
/// <see cref="OverlayLauncher.SetupMarker"/> on stderr (see ProviderFailureTables).
/// </summary>
internal static class OverlayMountCommandLine
{
    public const string NamespaceLabel = "mount namespace";
    public const string OverlayLabel = "overlay";

    // $1 = the folder the overlay options are relative to (the store: a chain of layers named by
    // short relative paths fits mount(2)'s one page), $2 = overlay options, $3 = mount point, then
    // tmpfs mount points up to "--", then the backend. Arguments travel as positional parameters,
    // never pasted into the script. The backend starts in / again. mkdir is a program (an exec):
    // only run when a mount point is missing, which after the first command it is not.
    private const string MountOverlay = "mount -t overlay sandbox-overlay -o \"$2\" \"$3\"";

    // Or, with an overlay mounted detached by the engine: $1 = /, $2 = /proc/self/fd/N holding it,
    // moved onto $3. --no-canonicalize: mount hands the kernel the magic link itself, which the kernel
    // follows to the held mount (a canonical path would be the text of the link).
    private const string MoveHeldOverlay = "mount --no-canonicalize --move \"$2\" \"$3\"";

    private static string MountThenExecBody(string mount) =>
        "cd \"$1\" || fail \"could not enter $1\"; { [ -d \"$3\" ] || mkdir -p \"$3\"; } && " +
        mount + " || fail \"could not mount the overlay on $3\"; cd /; shift 3; " +
        "while [ \"$1\" != -- ]; do { [ -d \"$1\" ] || mkdir -p \"$1\"; } && mount -t tmpfs sandbox-tmpfs \"$1\" || fail \"could not mount a tmpfs on $1\"; shift; done; " +
        "shift; exec \"$@\"";

    private const string Fail = "fail() { echo \"" + OverlayLauncher.SetupMarker + " $1\" >&2; exit 125; }; ";

    // The same, first moving itself into the cgroups whose cgroup.procs files come before a "--":
    // the cgroup join is this shell's work rather than a shell of its own (one exec less), and
    // everything it execs, the backend and the command below it, starts inside.
    private const string JoinCgroups =
        "while [ \"$1\" != -- ]; do echo $$ > \"$1\" || fail \"could not join the cgroup $1\"; shift; done; shift; ";

    private static string Script(bool joinsCgroups, bool movesHeldOverlay) =>
        Fail + (joinsCgroups ? JoinCgroups : "") + MountThenExecBody(movesHeldOverlay ? MoveHeldOverlay : MountOverlay);

    public static IEnumerable<ArgvBlock> Blocks(SandboxView view, params string[] privateTmpfs) =>
        Blocks(view, inOwnMountNamespace: false, Array.Empty<string>(), mountPoint: null, privateTmpfs);

    /// <param name="inOwnMountNamespace">
    /// The launch chain already gives the backend a private mount namespace of its own (Nspawn's
    /// commands: see BackendProcess.OwnPidNamespaceHasOwnMountNamespace): no unshare --mount.
    /// </param>
    /// <param name="cgroupProcs">The cgroup.procs files of the cgroups the backend must start in (Nspawn), or none.</param>
    /// <param name="mountPoint">Where the overlay is mounted, made when missing; null: the sandbox's merged/.</param>
    public static IEnumerable<ArgvBlock> Blocks(SandboxView view, bool inOwnMountNamespace, IReadOnlyList<string> cgroupProcs, string? mountPoint,
        params string[] privateTmpfs)
    {
        if (!inOwnMountNamespace || !view.IsRoot) yield return UnshareBlock(view);
        var overlay = new List<string> { view.Tools.Sh, "-c", Script(cgroupProcs.Count > 0, view.HeldMounts is not null), "sandbox-overlay" };
        if (cgroupProcs.Count > 0)
        {
            overlay.AddRange(cgroupProcs);
            overlay.Add("--");
        }
        if (view.HeldMounts is { } held)
            overlay.AddRange(new[] { "/", DescriptorName(held.Root), mountPoint ?? view.Overlay.Merged });
        else
            // Rootless, overlayfs keeps its metadata in user.* xattrs: trusted.* needs real root.
            overlay.AddRange(new[] { view.Overlay.MountFolder, view.Overlay.MountOptions(inUserNamespace: !view.IsRoot), mountPoint ?? view.Overlay.Merged });
        overlay.AddRange(privateTmpfs);
        overlay.Add("--");
        yield return ArgvBlock.Of(OverlayLabel, overlay);
    }

    /// <summary>How a launcher names descriptor <paramref name="fd"/> it was spawned holding, for the kernel to follow.</summary>
    public static string DescriptorName(int fd) => "/proc/self/fd/" + fd.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// A private mount namespace; rootless also a user namespace where the user is root, with their
    /// subordinate ids mapped onto uids 1.. so the image's other owners keep their files.
    /// </summary>
    private static ArgvBlock UnshareBlock(SandboxView view)
    {
        var argv = new List<string> { view.Tools.Unshare };
        if (!view.IsRoot)
        {
            argv.Add("--map-root-user");
            if (view.SubordinateIds is { } ids)
            {
                argv.Add($"--map-users={ids.UidStart},1,{ids.Count}");
                argv.Add($"--map-groups={ids.GidStart},1,{ids.Count}");
            }
        }
        // private: the overlay must not propagate back to the host's mount namespace.
        argv.AddRange(new[] { "--mount", "--propagation", "private", "--" });
        return ArgvBlock.Of(NamespaceLabel, argv);
    }
}
