using Sandbox.Namespaces;
using Sandbox.Native;
using Sandbox.Processes;
using Sandbox.Providers.CommandLines;
using Sandbox.Providers.Failures;

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
internal sealed class BubblewrapProvider : ISandboxProvider
{
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
        // bwrap reports the command's exit on a pipe only it holds: the evidence that the command
        // ran, whatever it printed (see BwrapStatusPipe). Passed first, then the held overlay.
        using var status = new BwrapStatusPipe();
        var passed = new PassedDescriptors();
        var statusArguments = status.ArgumentsPassing(passed);
        var layer = OverlayLayer.Of(sandbox);
        using var overlay = PrepareOverlay(sandbox, layer);
        // As root bwrap is exec'd directly and --die-with-parent makes it set its own parent-death signal.
        var bwrap = ToolLocator.Require("bwrap", "bubblewrap");
        var argv = BuildArgv(sandbox, layer, overlay, passed, command, bwrap, interactive: false, statusArguments);
        var outcome = BackendProcess.Run(_log, argv,
            BackendProcess.HostEnvironment(), command, lines, cancellation, backendDiesWithParent: !MountNamespace.InUserNamespace,
            passed: passed, tracePoint: command.Trace ? TracePoint(sandbox, command, argv, bwrap) : null);

        if (!status.CommandExited())
            BackendFailureClassifier.ThrowIfNotStarted(ProviderFailureTables.Bubblewrap, outcome, sandbox.Name, command.Argv[0]);
        return outcome;
    }

    /// <summary>-Trace: strace goes right before bwrap (after the rootless launcher); the command is PID 1 (--as-pid-1).</summary>
    private static Tracing.TracePoint TracePoint(SandboxInfo sandbox, SandboxCommand command, List<string> argv, string bwrap) =>
        new(argv.IndexOf(bwrap), CommandPid: 1, HostRoot: null,
            () => OverlayLayer.Of(sandbox).Reader, sandbox.StatePath, command.WorkingDirectory ?? "/");

    public int RunInteractive(SandboxInfo sandbox, SandboxCommand command)
    {
        var passed = new PassedDescriptors();
        var layer = OverlayLayer.Of(sandbox);
        using var overlay = PrepareOverlay(sandbox, layer);
        var argv = BuildArgv(sandbox, layer, overlay, passed, command, ToolLocator.Require("bwrap", "bubblewrap"), interactive: true);
        return BackendProcess.RunInteractive(_log, argv, BackendProcess.HostEnvironment(), passed);
    }

    // Every command's processes die with their bwrap (--die-with-parent, private pid namespace).
    // As root the overlay stays mounted on the host: the engine moves the state folder to the trash
    // with it, and the trash detaches it by identity in the background (OverlayUnmountInTrash).
    public void Destroy(SandboxInfo sandbox) { }

    public LayerMeasurement Measure(SandboxInfo sandbox) => OverlayLayer.Of(sandbox).Measure(sandbox.Name);

    /// <summary>
    /// As root: the overlay mounted on the host (at the first command) and held for bwrap by descriptor
    /// (<see cref="HeldOverlayRoot"/>), to be kept open until bwrap is spawned. Rootless: null, the
    /// command line mounts it. Either way the binds' targets are checked in the sandbox's view.
    /// </summary>
    private HeldOverlayRoot? PrepareOverlay(SandboxInfo sandbox, OverlayLayer layer)
    {
        var isRoot = !MountNamespace.InUserNamespace;
        // Mounted at the first command and kept: the sandbox lock only to mount it. Checking without
        // the lock first loses nothing: the lock was never held while bwrap binds the mount, so a
        // removal could always unmount it after the check, and bwrap then fails to bind (no command runs).
        if (isRoot && !layer.IsMounted)
        {
            using (_lockSandbox(sandbox)) layer.EnsureMountedOnHost(sandbox.Name, _log);
        }
        var held = isRoot ? HeldOverlayRoot.Hold(layer, sandbox.ReadOnlyRoot ? sandbox.WritablePaths : Array.Empty<string>(), sandbox.Name) : null;
        try
        {
            // bwrap follows links on a bind's target: refuse to run if the sandbox planted one there.
            // As root they are looked up in the very overlay bwrap will bind.
            Sandboxes.BindTargetGuard.Check(sandbox, layer, mountedRoot: held?.Path);
            return held;
        }
        catch
        {
            held?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads what the command line depends on (who we are, tool paths, the user in the image's
    /// /etc/passwd, the caller's TERM) and hands it to the pure <see cref="BubblewrapCommandLine"/>,
    /// with the held overlay's descriptors added to <paramref name="passed"/> (root).
    /// </summary>
    private static List<string> BuildArgv(SandboxInfo sandbox, OverlayLayer layer, HeldOverlayRoot? overlay, PassedDescriptors passed,
        SandboxCommand command, string bwrap, bool interactive, string[]? statusArguments = null)
    {
        var account = PasswdFile.For(command, layer.Reader);
        if (overlay is not null && account.Uid != 0 && UnprivilegedRootReach.FirstBarrier(layer.Merged) is { } barrier)
            throw SandboxErrors.UserNeedsReachableStore(sandbox.Name, command.User ?? account.Uid.ToString(System.Globalization.CultureInfo.InvariantCulture), barrier);
        var view = CommandLineInputs.View(sandbox, layer, isRoot: !MountNamespace.InUserNamespace, bwrap) with { HeldSources = overlay?.PassTo(passed) };
        var argv = BubblewrapCommandLine.Build(view, CommandLineInputs.Invocation(sandbox, command, account, interactive));
        if (statusArguments is null) return argv.Argv;
        // bwrap's options follow its own path (the backend block): the status pipe goes first.
        return argv.Blocks.SelectMany(block => block.Label == BubblewrapCommandLine.Backend ? block.Args.Concat(statusArguments) : block.Args).ToList();
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
