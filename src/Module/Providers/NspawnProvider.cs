using Sandbox.Cgroups;
using Sandbox.Namespaces;
using Sandbox.Native;
using Sandbox.Processes;
using Sandbox.Providers.Confinement;
using Sandbox.Providers.CommandLines;
using Sandbox.Providers.Failures;

namespace Sandbox.Providers;

/// <summary>
/// Runs commands with systemd-nspawn over the same kernel overlayfs view as Bubblewrap, mounted in a
/// private mount namespace per command (never --ephemeral, which copies the whole tree on ext4).
/// Root only. Where PID 1 is not systemd there is no machined to register with, so it runs with
/// --register=no --keep-unit; where it is, the sandbox is registered and `machinectl list` shows it.
/// Inside: the command runs as PID 2 under nspawn's stub init, with nspawn's own private /dev,
/// /proc, /sys, /tmp and /run, and no network unless -Network Host.
/// </summary>
internal sealed partial class NspawnProvider : ISandboxProvider
{
    // What a booted init and a plain command may not do: see NspawnCommandLine.
    private static readonly string[] BootDroppedCapabilities = NspawnCommandLine.BootDroppedCapabilities;
    private static readonly string[] CommandDroppedCapabilities = NspawnCommandLine.CommandDroppedCapabilities;

    private static readonly Lazy<SandboxProviderInfo> CachedProbe = new(ProbeOnce);
    private readonly IEngineLog _log;

    public NspawnProvider(IEngineLog log) => _log = log;

    public ProviderName Name => ProviderName.Nspawn;

    /// <summary>Each command mounts its own overlay over the sandbox's upper directory: commands are queued.</summary>
    public bool CommandsRunConcurrently => false;

    public SandboxProviderInfo Probe() => CachedProbe.Value;

    /// <summary>Whether PID 1 is systemd (sd_booted's test), so machined registration is possible.</summary>
    public static bool HostRunsSystemd => Directory.Exists("/run/systemd/system");

    public void Create(SandboxInfo sandbox)
    {
        OverlayLayer.Of(sandbox).Create();
        if (!sandbox.Boot) return;
        BootedMachine.RequireSystemd(sandbox);
        MachineFolder? folder = null;
        try
        {
            // The machine folder holds the uid range's claim: a state folder renamed away (the caller's,
            // under sudo) must not make a running machine's range look free.
            folder = MachineFolder.Create(sandbox);
            var ids = BootIdRange.Claim(sandbox, folder.Path);
            BootedMachine.Boot(sandbox, folder, BootArgv(sandbox, ids), ids, _log);
        }
        catch
        {
            // With the folder made here, not one found again through the state folder the caller may have swapped meanwhile.
            Destroy(sandbox, folder);
            throw;
        }
        finally
        {
            folder?.Dispose();
        }
    }

    public ProcessOutcome Run(SandboxInfo sandbox, SandboxCommand command, OutputLines lines,
        CancellationToken cancellation)
    {
        var passed = new PassedDescriptors();
        using var overlay = MountOverlay(sandbox);
        var (argv, environment, cgroup) = CommandLine(sandbox, command, interactive: false, overlay?.PassTo(passed));
        try
        {
            // Not for -Boot: nsenter cannot join the machine's pid namespace from a sibling one.
            // -Trace: strace before nspawn; the command is PID 2 (--as-pid2). Not in a -Boot machine.
            var trace = sandbox.Boot ? null : new Tracing.TracePoint(0, CommandPid: 2, HostRoot: null,
                () => OverlayLayer.Of(sandbox).Reader, sandbox.StatePath, command.WorkingDirectory ?? "/");
            var outcome = BackendProcess.Run(_log, argv, environment, command, lines, cancellation, ownPidNamespace: !sandbox.Boot,
                passed: passed, tracePoint: trace);
            BackendFailureClassifier.ThrowIfNotStarted(ProviderFailureTables.Nspawn, outcome, sandbox.Name, command.Argv[0]);
            return outcome;
        }
        finally
        {
            cgroup?.Remove();
        }
    }

    public int RunInteractive(SandboxInfo sandbox, SandboxCommand command)
    {
        var passed = new PassedDescriptors();
        using var overlay = MountOverlay(sandbox);
        var (argv, environment, cgroup) = CommandLine(sandbox, command, interactive: true, overlay?.PassTo(passed));
        try
        {
            return BackendProcess.RunInteractive(_log, argv, environment, passed);
        }
        finally
        {
            cgroup?.Remove();
        }
    }

    // Each command's nspawn and everything under it ends with the command; the overlay lived in
    // the command's own mount namespace. A booted machine is powered off. The sandbox's cgroup
    // goes with whatever still runs in it or was made inside. Only the layer folders remain,
    // deleted by the engine.
    public void Destroy(SandboxInfo sandbox)
    {
        using var machine = MachineFolder.Open(sandbox);
        Destroy(sandbox, machine);
    }

    private void Destroy(SandboxInfo sandbox, MachineFolder? machine)
    {
        BootedMachine.PowerOff(sandbox, machine);
        if (OwnCgroups) SandboxCgroup.Of(sandbox).Remove();
        // After every process of the machine is gone; the folder (the claim's holder) last.
        if (machine is not null)
        {
            BootIdRange.Release(sandbox, machine.Path);
            machine.Delete();
        }
        else if (sandbox.Boot) BootIdRange.Release(sandbox); // an older version's claim, held by the state folder
    }

    /// <summary>
    /// Whether each sandbox gets a cgroup of ours. With systemd as PID 1 nspawn registers a scope
    /// per machine itself and the tree is systemd's to manage; without it nspawn (--keep-unit)
    /// would nest under whatever cgroup started it, shared by every sandbox.
    /// </summary>
    private static bool OwnCgroups => !HostRunsSystemd && SandboxCgroup.Supported;

    /// <summary>
    /// A command of its own nspawn gets the overlay (and each -ReadOnlyRoot writable path) mounted detached
    /// from its folders held by descriptor (see <see cref="DetachedOverlay"/>), to be kept open until the backend is spawned; a booted
    /// machine's commands enter its running container and mount nothing (null).
    /// </summary>
    private static DetachedOverlay? MountOverlay(SandboxInfo sandbox)
    {
        if (!UserIdentity.IsRoot) throw SandboxErrors.ProviderUnavailable("Nspawn", "systemd-nspawn needs root.", "Run pwsh as root (sudo pwsh), or use -Provider Bubblewrap.");
        if (MachineOf(sandbox) is not null) return null;
        return DetachedOverlay.Mount(OverlayLayer.Of(sandbox), sandbox.ReadOnlyRoot ? sandbox.WritablePaths : Array.Empty<string>(), sandbox.Name);
    }

    /// <summary>
    /// The booted machine a command enters: the one root's machine folder records, whatever state.json
    /// (the caller's under sudo) says. A sandbox that says it was booted but has no such machine has
    /// nothing to enter (its machine stopped, or an older version booted it): never a plain nspawn
    /// next to a machine that may still run on the same layer.
    /// </summary>
    private static BootedMachine? MachineOf(SandboxInfo sandbox)
    {
        if (BootedMachine.Of(sandbox) is { } machine) return machine;
        if (sandbox.Boot) throw SandboxErrors.MachineNotRunning(sandbox.Name, BootedMachine.OlderVersionRecord(sandbox) is not null);
        return null;
    }

    /// <summary>A command runs in its own nspawn (in a cgroup of its own), or inside the booted machine through nsenter.</summary>
    private (List<string> Argv, Dictionary<string, string> Environment, SandboxCgroup? Cgroup) CommandLine(SandboxInfo sandbox, SandboxCommand command, bool interactive,
        HeldBindSources? heldMounts)
    {
        if (MachineOf(sandbox) is not { } machine)
        {
            var own = OwnCgroups ? SandboxCgroup.Of(sandbox).Child($"run-{Guid.NewGuid():N}") : null;
            return (BuildArgv(sandbox, command, interactive, own, heldMounts), HostEnvironment(), own);
        }
        var account = PasswdFile.For(command, OverlayLayer.Of(sandbox).Reader);
        var cgroup = OwnCgroups ? BootedMachine.CommandCgroup(sandbox) : null;
        // nsenter passes its own environment on, so the command's clean one is nsenter's.
        var environment = CommandEnvironment.Compose(sandbox, command, account.Home);
        var argv = machine.EnterArgv(sandbox, account, command.WorkingDirectory ?? (interactive ? account.Home : "/"),
            CommandDroppedCapabilities, cgroup, ConfineHelper.ProgramPaths(command.Argv[0], environment.GetValueOrDefault("PATH")));
        argv.AddRange(command.Argv);
        return (argv, environment, cgroup);
    }

    private List<string> BootArgv(SandboxInfo sandbox, BootIdRange ids)
    {
        var argv = NspawnArgv(sandbox, BootDroppedCapabilities, OwnCgroups ? SandboxCgroup.Of(sandbox).Child(BootedMachine.CgroupName) : null);
        argv.AddRange(new[] { "--boot", "--notify-ready=yes", "--console=passive" });
        // Its own user namespace (see BootedMachine.Boot): ownership=off, because the idmapped
        // mounts already show the files with the machine's owners (map would refuse to idmap the
        // overlay itself, chown would rewrite the whole layer).
        argv.AddRange(new[] { ids.NspawnOption, "--private-users-ownership=off" });
        foreach (var (key, value) in sandbox.Environment) argv.Add($"--setenv={key}={value}");
        // systemd takes its hostname from /etc/hostname over nspawn's; the kernel command line,
        // which in a container is PID 1's own arguments, wins over both.
        argv.AddRange(new[] { "--", $"systemd.hostname={sandbox.Name}" });
        return argv;
    }

    /// <summary>What every nspawn of this sandbox gets (NspawnCommandLine.ForContainer), from the host's state now.</summary>
    private static List<string> NspawnArgv(SandboxInfo sandbox, IEnumerable<string> droppedCapabilities, SandboxCgroup? cgroup) =>
        NspawnCommandLine.ForContainer(View(sandbox), Host(cgroup), droppedCapabilities).Argv;

    private static SandboxView View(SandboxInfo sandbox) =>
        CommandLineInputs.View(sandbox, OverlayLayer.Of(sandbox), isRoot: true, ToolLocator.Require("systemd-nspawn", "systemd-container"));

    /// <param name="inOwnMountNamespace">Launched by BackendProcess.Run with a pid namespace of its own, which brings a mount namespace.</param>
    private static NspawnHost Host(SandboxCgroup? cgroup, bool inOwnMountNamespace = false) => new()
    {
        RegistersWithMachined = HostRunsSystemd,
        CgroupProcs = cgroup?.Create() ?? new List<string>(),
        InOwnMountNamespace = inOwnMountNamespace,
    };

    public LayerMeasurement Measure(SandboxInfo sandbox) => OverlayLayer.Of(sandbox).Measure(sandbox.Name);

    private List<string> BuildArgv(SandboxInfo sandbox, SandboxCommand command, bool interactive, SandboxCgroup? cgroup, HeldBindSources? heldMounts)
    {
        var account = PasswdFile.For(command, OverlayLayer.Of(sandbox).Reader);
        // Exactly the commands Run gives a pid namespace of their own (ownPidNamespace: !sandbox.Boot);
        // an interactive one keeps its unshare --mount, or the overlay would be mounted on the host.
        var host = Host(cgroup, inOwnMountNamespace: !interactive && !sandbox.Boot && BackendProcess.OwnPidNamespaceHasOwnMountNamespace);
        return NspawnCommandLine.ForCommand(View(sandbox) with { HeldMounts = heldMounts }, host, CommandLineInputs.Invocation(sandbox, command, account, interactive)).Argv;
    }

    private static Dictionary<string, string> HostEnvironment()
    {
        var environment = BackendProcess.HostEnvironment();
        // nspawn would otherwise ask for a pager or colors when it thinks a person is watching.
        environment["SYSTEMD_PAGER"] = "";
        environment["SYSTEMD_COLORS"] = "0";
        // nspawn locks the directory it runs (.#merged.lck beside it), so a second command of the
        // same sandbox failed with "Directory tree ... is currently busy". The engine queues the
        // commands of one sandbox (each mounts its own overlay over the same upper layer); the lock
        // file beside merged/ would only outlive a killed nspawn.
        environment["SYSTEMD_NSPAWN_LOCK"] = "0";
        // /tmp is part of the sandbox's layer (1777, see OverlayLayer.Create) and persists from one
        // command to the next, as in a container, instead of a tmpfs emptied by every command.
        environment["SYSTEMD_NSPAWN_TMPFS_TMP"] = "0";
        return environment;
    }

    private static SandboxProviderInfo ProbeOnce()
    {
        string? reason = null, hint = null;
        if (ToolLocator.Find("systemd-nspawn") is null)
            (reason, hint) = ("systemd-nspawn is not installed.", "apt-get install systemd-container");
        else if (!UserIdentity.IsRoot)
            (reason, hint) = ("systemd-nspawn needs root.", "Run pwsh as root (sudo pwsh), or use the Bubblewrap provider.");
        else if (ToolLocator.Find("unshare") is null)
            (reason, hint) = ("unshare is not installed.", "apt-get install util-linux");

        return new SandboxProviderInfo
        {
            Name = nameof(ProviderName.Nspawn),
            Available = reason is null,
            Reason = reason,
            InstallHint = hint,
            NeedsRoot = true,
            Isolation = "systemd-nspawn container (mount, pid, ipc, uts, net namespaces; capability bounding set; seccomp)"
                        + (HostRunsSystemd ? "; registered with machined" : "; not registered (PID 1 is not systemd)"),
            IsSecurityBoundary = true,
            CopyOnWrite = "overlayfs",
        };
    }
}
