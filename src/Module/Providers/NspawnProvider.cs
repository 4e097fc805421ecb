using Sandbox.Cgroups;
using Sandbox.Namespaces;
using System.Text.RegularExpressions;
using Sandbox.Native;
using Sandbox.Processes;
using Sandbox.Providers.Confinement;

namespace Sandbox.Providers;

/// <summary>
/// Runs commands with systemd-nspawn over the same kernel overlayfs view as Bubblewrap, mounted in a
/// private mount namespace per command (never --ephemeral, which copies the whole tree on ext4).
/// Root only. Where PID 1 is not systemd there is no machined to register with, so it runs with
/// --register=no --keep-unit; where it is, the sandbox is registered and `machinectl list` shows it.
/// Inside: the command runs as PID 2 under nspawn's stub init, with nspawn's own private /dev,
/// /proc, /sys, /tmp and /run, and no network unless -Network Host.
/// </summary>
public sealed partial class NspawnProvider : ISandboxProvider
{
    // nspawn keeps bookkeeping under /run/systemd/nspawn; on a host whose /run is not a tmpfs it
    // complains on every exit when cleaning it, so each command gets a private, empty one.
    private const string NspawnRuntimeFolder = "/run/systemd/nspawn";

    /// <summary>
    /// nspawn's default set is meant for a whole OS. Without a device cgroup (no systemd to set one
    /// up here) CAP_MKNOD would let root inside make a node for the host's disk, so it always goes;
    /// a plain command also loses mounting, tracing, rebooting and raw resource control. A booted
    /// init keeps CAP_SYS_ADMIN, which systemd needs for its own mounts: only inside the user
    /// namespace it boots in (see BootedMachine.Boot), so it governs nothing of the host's.
    /// </summary>
    private static readonly string[] BootDroppedCapabilities = { "CAP_MKNOD", "CAP_SYS_RAWIO", "CAP_SYS_MODULE" };

    private static readonly string[] CommandDroppedCapabilities = BootDroppedCapabilities.Concat(new[]
    {
        "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_BOOT", "CAP_SYS_RESOURCE", "CAP_SYS_TTY_CONFIG", "CAP_LINUX_IMMUTABLE", "CAP_NET_RAW",
    }).ToArray();

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
        try
        {
            var ids = BootIdRange.Claim(sandbox);
            BootedMachine.Boot(sandbox, BootArgv(sandbox, ids), ids, _log);
        }
        catch
        {
            Destroy(sandbox);
            throw;
        }
    }

    public ProcessOutcome Run(SandboxInfo sandbox, SandboxCommand command, OutputLines lines,
        CancellationToken cancellation)
    {
        var (argv, environment, cgroup) = CommandLine(sandbox, command, interactive: false);
        try
        {
            // Not for -Boot: nsenter cannot join the machine's pid namespace from a sibling one.
            var outcome = BackendProcess.Run(_log, argv, environment, command, lines, cancellation, ownPidNamespace: !sandbox.Boot);
            if (!outcome.TimedOut && !outcome.Cancelled) ThrowIfNotStarted(sandbox, command, outcome);
            return outcome;
        }
        finally
        {
            cgroup?.Remove();
        }
    }

    public int RunInteractive(SandboxInfo sandbox, SandboxCommand command)
    {
        var (argv, environment, cgroup) = CommandLine(sandbox, command, interactive: true);
        try
        {
            return BackendProcess.RunInteractive(_log, argv, environment);
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
        BootedMachine.Of(sandbox)?.PowerOff();
        if (OwnCgroups) SandboxCgroup.Of(sandbox).Remove();
        if (sandbox.Boot) BootIdRange.Release(sandbox); // after every process of the machine is gone
    }

    /// <summary>
    /// Whether each sandbox gets a cgroup of ours. With systemd as PID 1 nspawn registers a scope
    /// per machine itself and the tree is systemd's to manage; without it nspawn (--keep-unit)
    /// would nest under whatever cgroup started it, shared by every sandbox.
    /// </summary>
    private static bool OwnCgroups => !HostRunsSystemd && SandboxCgroup.Supported;

    /// <summary>A command runs in its own nspawn (in a cgroup of its own), or inside the booted machine through nsenter.</summary>
    private (List<string> Argv, Dictionary<string, string> Environment, SandboxCgroup? Cgroup) CommandLine(SandboxInfo sandbox, SandboxCommand command, bool interactive)
    {
        if (BootedMachine.Of(sandbox) is not { } machine)
        {
            var own = OwnCgroups ? SandboxCgroup.Of(sandbox).Child($"run-{Guid.NewGuid():N}") : null;
            return (BuildArgv(sandbox, command, interactive, own), HostEnvironment(), own);
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

    /// <summary>
    /// What every nspawn of this sandbox gets: its cgroup, the overlay launcher, its root, name,
    /// hostname, registration, network and binds. No journal link (the host has no journald to
    /// link to, and concurrent commands raced to make /var/log/journal).
    /// </summary>
    private static List<string> NspawnArgv(SandboxInfo sandbox, IEnumerable<string> droppedCapabilities, SandboxCgroup? cgroup)
    {
        var layer = OverlayLayer.Of(sandbox);
        var argv = cgroup?.JoinPrefix() ?? new List<string>();
        argv.AddRange(OverlayLauncher.Prefix(layer, NspawnRuntimeFolder));
        argv.Add(ToolLocator.Require("systemd-nspawn", "systemd-container"));
        argv.AddRange(new[] { "--quiet", $"--directory={layer.Merged}", $"--machine={sandbox.Name}", $"--hostname={sandbox.Name}", "--link-journal=no" });
        argv.Add($"--drop-capability={string.Join(',', droppedCapabilities)}");
        argv.AddRange(HostRunsSystemd ? new[] { "--register=yes" } : new[] { "--register=no", "--keep-unit" });
        if (sandbox.Network == NetworkMode.None) argv.Add("--private-network");
        foreach (var mount in sandbox.Mounts)
            argv.Add($"{(mount.ReadOnly ? "--bind-ro" : "--bind")}={EscapeColons(mount.HostPath)}:{EscapeColons(mount.SandboxPath)}");
        return argv;
    }

    public LayerMeasurement Measure(SandboxInfo sandbox) => OverlayLayer.Of(sandbox).Measure(sandbox.Name);

    private List<string> BuildArgv(SandboxInfo sandbox, SandboxCommand command, bool interactive, SandboxCgroup? cgroup)
    {
        if (!UserIdentity.IsRoot) throw SandboxErrors.ProviderUnavailable("Nspawn", "systemd-nspawn needs root.", "Run pwsh as root (sudo pwsh), or use -Provider Bubblewrap.");
        var account = PasswdFile.For(command, OverlayLayer.Of(sandbox).Reader);
        var argv = NspawnArgv(sandbox, CommandDroppedCapabilities, cgroup);
        argv.Add("--as-pid2");
        // Piped stdin is read as a script (see InteractiveProcessRunner): nspawn's own pty would not end with it.
        argv.Add(interactive && InteractiveProcessRunner.StdInIsTerminal ? "--console=interactive" : "--console=pipe");
        foreach (var (key, value) in CommandEnvironment.Compose(sandbox, command, account.Home))
            argv.Add($"--setenv={key}={value}");
        argv.Add($"--chdir={command.WorkingDirectory ?? (interactive ? account.Home : "/")}");
        // nspawn resolves the user with getent inside the image (every Debian image has it), so
        // the user must exist there; we looked it up already and pass its name.
        if (account.Uid != 0) argv.Add($"--user={account.Name ?? throw NoSuchUser(command.User!)}");
        argv.Add("--");
        argv.AddRange(command.Argv);
        return argv;
    }

    private static SandboxException NoSuchUser(string user) => new("UserNotFound", SandboxErrorKind.ObjectNotFound,
        $"The Nspawn provider can only run as a user of the image's /etc/passwd, and '{user}' is not one.",
        "Create the user in the sandbox first (useradd), or use -Provider Bubblewrap, which takes any numeric uid.", user);

    private static string EscapeColons(string path) => path.Replace(":", "\\:");

    [GeneratedRegex(@"^execv\w*\((?<command>.*)\) failed: (?<reason>.*)$")]
    private static partial Regex ExecFailure();

    /// <summary>
    /// Tells a command that never started from one that ran and failed: nspawn reports a failed
    /// exec as "execv(CMD) failed: REASON", and its own failures as its last stderr line, both with
    /// exit code 1 and nothing on stdout.
    /// </summary>
    private static void ThrowIfNotStarted(SandboxInfo sandbox, SandboxCommand command, ProcessOutcome outcome)
    {
        if (OverlayLauncher.IsSetupFailure(outcome))
            throw SandboxErrors.SetupFailed("Nspawn", sandbox.Name, outcome.StdErr);
        var lines = outcome.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // In a booted machine commands are executed by the confinement helper, which exits 127 when it cannot.
        if (outcome.ExitCode == ConfineHelper.ExecFailureExitCode && outcome.StdOut.Length == 0 && lines is [ConfineHelper.ExecFailure])
            throw SandboxErrors.CommandNotFound(command.Argv[0], "not found or not executable in the booted machine");
        if (outcome.ExitCode != 1 || outcome.StdOut.Length > 0) return;
        if (lines.Length == 0) return;
        if (lines.Select(line => ExecFailure().Match(line)).FirstOrDefault(m => m.Success) is { } exec && lines.Length <= 2)
            throw SandboxErrors.CommandNotFound(command.Argv[0], exec.Groups["reason"].Value);
        if (lines[^1] is "Child died too early." || lines[^1].StartsWith("Failed to ", StringComparison.Ordinal)
            || lines[^1].Contains("Refusing", StringComparison.Ordinal))
            throw SandboxErrors.SetupFailed("Nspawn", sandbox.Name, outcome.StdErr);
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
