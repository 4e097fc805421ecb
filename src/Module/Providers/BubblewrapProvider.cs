using Sandbox.Namespaces;
using Sandbox.Native;
using Sandbox.Processes;

namespace Sandbox.Providers;

/// <summary>
/// Runs commands with bubblewrap over a kernel overlayfs view of the image, as root or rootless.
/// bwrap 0.8 cannot mount an overlay itself. As root the overlay is mounted on the host once, at the
/// first command, and each command is just bwrap on it (the fast path); removal, or reaping after
/// the owner died, unmounts it. Rootless, each command starts in a private mount namespace inside a
/// user namespace where the user is root (unshare), mounts the overlay there and execs bwrap, so
/// the mount never exists on the host. Binds are always made by bwrap inside the command's own
/// namespace, so removal never finds a bind mount to walk into. The sandbox's writes persist in its
/// upper layer from one command to the next.
/// Inside: private /dev (null, zero, full, random, urandom, tty), /proc, tmpfs /run, every
/// namespace unshared (network shared only with -Network Host), --die-with-parent, --new-session.
/// </summary>
public sealed class BubblewrapProvider : ISandboxProvider
{
    /// <summary>
    /// What root inside a sandbox may do: own, chmod and read any file, switch users, chroot, bind
    /// low ports. Not: mount, mknod, load modules, trace, change the clock or raw network access
    /// (Docker's default set without CAP_MKNOD and CAP_NET_RAW).
    /// </summary>
    private static readonly string[] RootCapabilities =
    {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETFCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE",
    };

    private static readonly Lazy<SandboxProviderInfo> CachedProbe = new(ProbeOnce);
    private readonly IEngineLog _log;
    private readonly Func<SandboxInfo, IDisposable> _lockSandbox;

    public BubblewrapProvider(IEngineLog log, Func<SandboxInfo, IDisposable> lockSandbox)
    {
        _log = log;
        _lockSandbox = lockSandbox;
    }

    public ProviderName Name => ProviderName.Bubblewrap;

    /// <summary>
    /// As root the overlay is mounted once on the host and every command binds it: commands run
    /// together. Rootless, each command mounts its own overlay over the same upper directory, which
    /// the kernel does not allow to be shared: commands are queued.
    /// </summary>
    public bool CommandsRunConcurrently => !MountNamespace.InUserNamespace;

    public SandboxProviderInfo Probe() => CachedProbe.Value;

    public void Create(SandboxInfo sandbox) => OverlayLayer.Of(sandbox).Create();

    public ProcessOutcome Run(SandboxInfo sandbox, SandboxCommand command, OutputLines lines,
        CancellationToken cancellation)
    {
        // As root bwrap is exec'd directly and --die-with-parent makes it set its own parent-death signal.
        var outcome = BackendProcess.Run(_log, BuildArgv(sandbox, command, interactive: false),
            BackendProcess.HostEnvironment(), command, lines, cancellation, backendDiesWithParent: !MountNamespace.InUserNamespace);

        if (!outcome.TimedOut && !outcome.Cancelled) ThrowIfNotStarted(sandbox, command, outcome);
        return outcome;
    }

    public int RunInteractive(SandboxInfo sandbox, SandboxCommand command)
    {
        return BackendProcess.RunInteractive(_log, BuildArgv(sandbox, command, interactive: true), BackendProcess.HostEnvironment());
    }

    // Every command's processes die with their bwrap (--die-with-parent, private pid namespace).
    // As root the overlay is unmounted from the host; the engine then deletes the layer folders.
    public void Destroy(SandboxInfo sandbox)
    {
        if (!MountNamespace.InUserNamespace) OverlayLayer.Of(sandbox).UnmountFromHost();
    }

    public LayerMeasurement Measure(SandboxInfo sandbox) => OverlayLayer.Of(sandbox).Measure(sandbox.Name);

    private List<string> BuildArgv(SandboxInfo sandbox, SandboxCommand command, bool interactive)
    {
        var layer = OverlayLayer.Of(sandbox);
        var account = PasswdFile.For(command, layer.Reader);

        List<string> argv;
        if (MountNamespace.InUserNamespace)
        {
            argv = OverlayLauncher.Prefix(layer);
        }
        else
        {
            using (_lockSandbox(sandbox)) layer.EnsureMountedOnHost(sandbox.Name, _log);
            argv = new List<string>();
        }
        argv.Add(ToolLocator.Require("bwrap", "bubblewrap"));
        // Every namespace but the user one: we are already root in a user namespace (rootless) or
        // real root, and a nested one made by bwrap would map only uid 0, hiding the image's other
        // owners. Root's power is cut down to a container's usual capabilities instead.
        argv.AddRange(new[] { "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try" });
        if (sandbox.Network == NetworkMode.None) argv.Add("--unshare-net");
        argv.Add("--die-with-parent");
        // setsid keeps a sandboxed command from pushing keystrokes into our terminal (TIOCSTI). An
        // interactive shell keeps its session: it is already the leader of one whose controlling
        // terminal is a pty of its own (InteractiveProcessRunner), and needs it for job control.
        if (!interactive) argv.Add("--new-session");
        // The command runs as PID 1 of its namespace, as in a container without --init. bwrap's own
        // reaper would report the command's exit through a pipe and exit without waiting for it,
        // and the kernel would then never add the command's CPU time and memory to ours (Get-
        // SandboxStat showed 0 s CPU for a busy loop). A shell keeps its reaper.
        if (!interactive) argv.Add("--as-pid-1");
        argv.AddRange(new[] { "--hostname", sandbox.Name });
        argv.AddRange(new[] { "--bind", layer.Merged, "/" });
        // /proc/sys is the host's kernel settings: read-only, or root inside could rewrite core_pattern.
        argv.AddRange(new[] { "--dev", "/dev", "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys" });
        argv.AddRange(new[] { "--tmpfs", "/run" }); // /tmp and /var/tmp are in the layer (OverlayLayer.Create)
        // bwrap follows links on a bind's target: refuse to run if the sandbox planted one there.
        Sandboxes.BindTargetGuard.Check(sandbox, layer, overlayMountedOnHost: !MountNamespace.InUserNamespace);
        foreach (var mount in sandbox.Mounts)
            argv.AddRange(new[] { mount.ReadOnly ? "--ro-bind" : "--bind", mount.HostPath, mount.SandboxPath });
        if (account.Uid != 0)
        {
            // A user namespace of its own maps the chosen uid; bwrap drops every capability for it.
            argv.AddRange(new[] { "--unshare-user", "--uid", account.Uid.ToString(), "--gid", account.Gid.ToString() });
        }
        else
        {
            argv.AddRange(new[] { "--cap-drop", "ALL" });
            foreach (var capability in RootCapabilities) argv.AddRange(new[] { "--cap-add", capability });
        }
        argv.Add("--clearenv");
        foreach (var (key, value) in CommandEnvironment.Compose(sandbox, command, account.Home))
            argv.AddRange(new[] { "--setenv", key, value });
        argv.AddRange(new[] { "--chdir", command.WorkingDirectory ?? (interactive ? account.Home : "/") });
        argv.Add("--");
        argv.AddRange(command.Argv);
        return argv;
    }

    /// <summary>
    /// Tells a command that never started from one that ran and failed. bwrap reports its own
    /// failures, and a failed exec ("bwrap: execvp CMD: REASON"), as its only line of stderr and
    /// exit code 1, with nothing on stdout; a command that ran and printed a lookalike line among
    /// other output is left alone.
    /// </summary>
    private static void ThrowIfNotStarted(SandboxInfo sandbox, SandboxCommand command, ProcessOutcome outcome)
    {
        if (OverlayLauncher.IsSetupFailure(outcome))
            throw SandboxErrors.SetupFailed("Bubblewrap", sandbox.Name, outcome.StdErr);
        var lines = outcome.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (outcome.ExitCode != 1 || lines.Length != 1 || outcome.StdOut.Length > 0) return;
        var line = lines[0];
        if (line.StartsWith("bwrap: execvp ", StringComparison.Ordinal))
            throw SandboxErrors.CommandNotFound(command.Argv[0], line[(line.LastIndexOf(": ", StringComparison.Ordinal) + 2)..]);
        if (line.StartsWith("bwrap: ", StringComparison.Ordinal) || line.StartsWith("unshare: ", StringComparison.Ordinal))
            throw SandboxErrors.SetupFailed("Bubblewrap", sandbox.Name, outcome.StdErr);
    }

    private static SandboxProviderInfo ProbeOnce()
    {
        string? reason = null, hint = null;
        if (ToolLocator.Find("bwrap") is null) (reason, hint) = ("bwrap is not installed.", "apt-get install bubblewrap");
        else if (ToolLocator.Find("unshare") is null) (reason, hint) = ("unshare is not installed.", "apt-get install util-linux");
        else if (!UserIdentity.IsRoot && !UserNamespaces.Usable(out var why))
            (reason, hint) = (why, UserNamespaces.Hint);

        return new SandboxProviderInfo
        {
            Name = nameof(ProviderName.Bubblewrap),
            Available = reason is null,
            Reason = reason,
            InstallHint = hint,
            NeedsRoot = false,
            Isolation = UserIdentity.IsRoot
                ? "namespaces (mount, pid, ipc, uts, cgroup, net); root limited to container capabilities"
                : "namespaces (user, mount, pid, ipc, uts, cgroup, net)",
            IsSecurityBoundary = true,
            CopyOnWrite = UserIdentity.IsRoot ? "overlayfs, mounted on the host while the sandbox lives" : "overlayfs in a user namespace per command (userxattr)",
        };
    }
}
