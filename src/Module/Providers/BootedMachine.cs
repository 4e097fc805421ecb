using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Sandbox.Cgroups;
using Sandbox.Namespaces;
using Sandbox.Native;
using Sandbox.Providers.Confinement;
using Sandbox.Processes;

namespace Sandbox.Providers;

/// <summary>
/// A sandbox booted with its image's init under systemd-nspawn --boot, for service tests. It runs
/// detached from the process that made it (so a pwsh session may end while it lives), announces
/// readiness through sd_notify (--notify-ready=yes: nspawn relays the container's READY=1 and its
/// leader's pid to our socket), takes later commands through nsenter into the leader's namespaces,
/// and is powered off on removal. Its record (boot.json: both processes), nspawn's pid file, the
/// boot's output and the notify socket are in its <see cref="MachineFolder"/>, which only root can
/// reach; the processes are proven to be the machine's (<see cref="MachineProcesses"/>) before any
/// nsenter or signal.
/// </summary>
internal sealed class BootedMachine
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan PowerOffTimeout = TimeSpan.FromSeconds(30);
    private const string RecordName = "boot.json";
    private const string PidFileName = "nspawn.pid";
    private const string LogName = "boot.log";
    private const string SocketName = "notify.sock";

    public required ProcessIdentity Nspawn { get; init; }
    public required ProcessIdentity Leader { get; init; }

    /// <summary>The NOTIFY_SOCKET this machine's nspawn was started with: part of what proves it ours.</summary>
    public required string NotifySocket { get; init; }

    /// <summary>The machine folder it lives in (null for a machine an older version booted, recorded in the state folder).</summary>
    public string? Folder { get; init; }

    /// <summary>The machine root's record of this sandbox's booted machine; null when it has none.</summary>
    public static BootedMachine? Of(SandboxInfo sandbox)
    {
        using var folder = MachineFolder.Open(sandbox);
        return folder?.ReadText(RecordName) is { } text ? Parse(text, folder.File(SocketName), folder.Path) : null;
    }

    /// <summary>Whether nspawn and the leader are still the very processes this machine started (see <see cref="MachineProcesses"/>).</summary>
    public bool IsRunning => MachineProcesses.IsOurNspawn(Nspawn, NotifySocket) && MachineProcesses.IsLeaderOf(Leader, Nspawn);

    private static BootedMachine? Parse(string text, string notifySocket, string? folder)
    {
        Dictionary<string, ulong>? saved;
        try { saved = JsonSerializer.Deserialize<Dictionary<string, ulong>>(text); }
        catch (JsonException) { return null; }
        if (saved is null || !new[] { "nspawnPid", "nspawnStart", "leaderPid", "leaderStart" }.All(saved.ContainsKey)
            || saved["nspawnPid"] > int.MaxValue || saved["leaderPid"] > int.MaxValue) return null;
        return new BootedMachine
        {
            Nspawn = new ProcessIdentity((int)saved["nspawnPid"], saved["nspawnStart"]),
            Leader = new ProcessIdentity((int)saved["leaderPid"], saved["leaderStart"]),
            NotifySocket = notifySocket,
            Folder = folder,
        };
    }

    /// <summary>
    /// Powers off this sandbox's machine, if it has one that is provably its own: after a boot, after
    /// a failed one (nspawn's pid file but no record yet), and a machine an older version booted
    /// (<see cref="OlderVersionRecord"/>). The caller deletes <paramref name="folder"/> afterwards.
    /// </summary>
    public static void PowerOff(SandboxInfo sandbox, MachineFolder? folder)
    {
        if (folder is not null)
        {
            if (folder.ReadText(RecordName) is { } text && Parse(text, folder.File(SocketName), folder.Path) is { } machine) machine.PowerOff();
            else if (ReadNspawn(folder) is { } nspawn && MachineProcesses.IsOurNspawn(nspawn, folder.File(SocketName))) PowerOff(nspawn, null);
        }
        OlderVersionRecord(sandbox)?.PowerOff();
    }

    /// <summary>
    /// A machine booted by a version that kept its record in the state folder: read through the
    /// folder's descriptor (no link followed, a regular file, 4 KiB at most) and trusted only as far
    /// as <see cref="MachineProcesses"/> proves it, with the NOTIFY_SOCKET that version gave nspawn
    /// (a path in this very state folder). Such a machine is never entered (MachineNotRunning says
    /// to remove the sandbox); its removal powers it off when it is provably this sandbox's.
    /// </summary>
    public static BootedMachine? OlderVersionRecord(SandboxInfo sandbox)
    {
        if (!UserIdentity.IsRoot) return null;
        var state = Sandboxes.StateFolder.Open(sandbox.StoreRoot, sandbox.StatePath);
        if (state < 0) return null;
        try
        {
            var fd = OpenAt2.openat(state, RecordName, OpenFlags.O_RDONLY | OpenFlags.O_NOFOLLOW | OpenFlags.O_NONBLOCK | OpenFlags.O_CLOEXEC, 0);
            if (fd < 0) return null;
            if (FileStatus.OfDescriptor(fd) is not { IsRegularFile: true, Size: <= 4096 })
            {
                OpenAt2.close(fd);
                return null;
            }
            using var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, 1);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return Parse(reader.ReadToEnd(), Path.Combine(sandbox.StatePath, SocketName), folder: null);
        }
        finally { OpenAt2.close(state); }
    }

    /// <summary>
    /// Starts nspawn detached (setsid --fork) and waits until the image's init says it is ready.
    /// The machine runs in a user namespace of its own (nspawnArgv has --private-users=BASE:65536),
    /// so its init's capabilities, CAP_SYS_ADMIN included, hold only over what that namespace owns:
    /// a unit it starts for root inside cannot write host sysctls, load modules or remount what
    /// nspawn made read-only. Its files are shown to it through idmapped mounts of the image and of
    /// the state folder (see <see cref="IdMappedMount"/>), made in a mount namespace only nspawn
    /// inherits: a file owned by root on disk is owned by the machine's root, and what the
    /// machine's root writes lands in upper/ owned by uid 0, so the layer stays what a plain
    /// sandbox's is (same owners as the image; measured and removed the same way).
    /// </summary>
    public static BootedMachine Boot(SandboxInfo sandbox, MachineFolder folder, IReadOnlyList<string> nspawnArgv, BootIdRange ids, IEngineLog log)
    {
        // Only root can reach the folder, so nobody else can send to the socket, or plant a link where
        // the shell writes the pid (it also writes with noclobber: O_EXCL) or where the log is opened.
        var socketPath = folder.File(SocketName);
        var logFile = folder.File(LogName);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(socketPath));

        // setsid --fork: nspawn is reparented at once, so it outlives us and is nobody's zombie.
        // Its output goes to boot.log (the spawn's stdout and stderr); "exec" keeps the pid recorded
        // by the shell the nspawn pid.
        var argv = new List<string>
        {
            ToolLocator.Require("setsid", "util-linux"), "--fork", ToolLocator.Require("sh", "dash"), "-c",
            "set -C; echo $$ > \"$1\" || exit 125; shift; exec \"$@\"", "sandbox-boot", folder.File(PidFileName),
        };
        argv.AddRange(nspawnArgv);
        log.Verbose(ShellQuote.Join(argv));
        int exitCode;
        using (var mapping = ids.OpenMappingNamespace())
        {
            var layer = OverlayLayer.Of(sandbox);
            // No lock: nspawn would lock its --directory by a file beside it, and every machine's root is
            // the same folder of root's (NspawnCommandLine.RootMountPoint), each in its own mount namespace.
            var environment = new Dictionary<string, string>
            {
                ["PATH"] = ToolLocator.SystemPath, ["NOTIFY_SOCKET"] = socketPath, ["LANG"] = "C.UTF-8", ["SYSTEMD_NSPAWN_LOCK"] = "0",
            };
            // The overlay launcher (in nspawnArgv) mounts the overlay from these very paths: in the
            // namespace it copies from this thread's, they are the idmapped views. Nothing on
            // that thread may start a thread (see ThreadlessSpawn).
            exitCode = IdMappedMount.InPrivateMountNamespace(() =>
            {
                foreach (var lower in layer.Lowers) IdMappedMount.MapOver(lower, mapping.Fd);
                IdMappedMount.MapOver(sandbox.StatePath, mapping.Fd);
                return ThreadlessSpawn.Run(argv[0], argv, environment, logFile);
            });
        }
        if (exitCode != 0) throw SandboxErrors.SetupFailed("Nspawn", sandbox.Name, Tail(folder));

        int? leaderPid = null;
        var buffer = new byte[4096];
        var deadline = DateTime.UtcNow + BootTimeout;
        try
        {
            while (true)
            {
                // Wait in short slices so a machine whose nspawn has exited (an init that cannot
                // start, a bad option) fails at once rather than after the whole boot timeout.
                if (!socket.Poll(TimeSpan.FromMilliseconds(200), SelectMode.SelectRead))
                {
                    if (NspawnExited(folder))
                        throw SandboxErrors.SetupFailed("Nspawn", sandbox.Name, "nspawn exited during boot. " + Tail(folder));
                    if (DateTime.UtcNow < deadline) continue;
                    if (ReadNspawn(folder) is { } failed && MachineProcesses.IsOurNspawn(failed, socketPath)) PowerOff(failed, null);
                    throw SandboxErrors.SetupFailed("Nspawn", sandbox.Name,
                        $"the machine did not report ready within {BootTimeout.TotalSeconds:F0} s. {Tail(folder)}");
                }
                var message = Encoding.UTF8.GetString(buffer, 0, socket.Receive(buffer));
                foreach (var line in message.Split('\n'))
                {
                    if (line.StartsWith("X_NSPAWN_LEADER_PID=", StringComparison.Ordinal))
                        leaderPid = int.Parse(line["X_NSPAWN_LEADER_PID=".Length..], CultureInfo.InvariantCulture);
                }
                if (message.Split('\n').Contains("READY=1") && leaderPid is not null) break;
            }
        }
        finally
        {
            File.Delete(socketPath);
        }

        var machine = new BootedMachine
        {
            Nspawn = ReadNspawn(folder) ?? throw SandboxErrors.SetupFailed("Nspawn", sandbox.Name, "nspawn exited during boot. " + Tail(folder)),
            Leader = ProcessIdentity.Of(leaderPid!.Value) ?? throw SandboxErrors.SetupFailed("Nspawn", sandbox.Name, "the container's init exited during boot."),
            NotifySocket = socketPath,
            Folder = folder.Path,
        };
        // What said READY must be our nspawn, and the leader it named its own child.
        if (!machine.IsRunning)
            throw SandboxErrors.SetupFailed("Nspawn", sandbox.Name, $"the leader {machine.Leader.Pid} that nspawn reported is not its running child.");
        folder.WriteNew(RecordName, JsonSerializer.Serialize(new Dictionary<string, ulong>
        {
            ["nspawnPid"] = (ulong)machine.Nspawn.Pid, ["nspawnStart"] = machine.Nspawn.StartTicks,
            ["leaderPid"] = (ulong)machine.Leader.Pid, ["leaderStart"] = machine.Leader.StartTicks,
        }));
        return machine;
    }

    /// <summary>
    /// The command line that runs a command inside the booted machine as the given user, confined
    /// like a plain Nspawn command: the process joins a cgroup of its own inside the machine's,
    /// opens the <see cref="ConfineHelper"/> file on the host as descriptor 3 (and deletes it),
    /// nsenter enters the machine's namespaces and root (its --wd takes the init's own working
    /// directory: with a path it would open that path on the host), its user namespace too, so
    /// the command's uid and capabilities are the machine's (uid 0 is the machine's root, a -User
    /// uid is one of the machine's passwd), and the helper, executed
    /// through the descriptor, drops privileges, installs the seccomp filter, changes to the
    /// working directory inside, and execs the command, which the caller appends.
    /// </summary>
    public List<string> EnterArgv(SandboxInfo sandbox, PasswdFile.Account account, string workingDirectory,
        IReadOnlyCollection<string> droppedCapabilities, SandboxCgroup? cgroup, IReadOnlyList<string> programPaths)
    {
        if (Folder is null || !IsRunning)
            throw SandboxErrors.MachineNotRunning(sandbox.Name);
        if (!ConfineHelper.Supported)
            throw SandboxErrors.NotSupported("Nspawn", "-Boot commands on this processor (the confinement helper is x86-64 only)");

        // In the machine folder, which only root can reach (the state folder is the caller's under sudo).
        var helper = Path.Combine(Folder, $"confine-{Guid.NewGuid():N}");
        var drop = CapabilitySet.OutsideOf(CapabilitySet.BoundingOf(Leader.Pid), droppedCapabilities);
        using (var file = new FileStream(helper, new FileStreamOptions
               { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = (UnixFileMode)0b101_101_101 }))
            file.Write(ConfineHelper.Build(account.Uid, account.Gid, drop, programPaths));
        // What is opened and executed as root must be the very file just written (root's, same
        // device and inode), not a replacement.
        var written = FileStatus.Of(helper) ?? throw SandboxErrors.SetupFailed("Nspawn", sandbox.Name, "the confinement helper vanished.");
        var identity = $"0:{DeviceNumber(written.DeviceMajor, written.DeviceMinor)}:{written.Inode}";

        var argv = cgroup?.JoinPrefix() ?? new List<string>();
        argv.AddRange(new[]
        {
            ToolLocator.Require("sh", "dash"), "-c",
            "exec 3<\"$1\" || exit 125; rm -f \"$1\"; " +
            "[ \"$(\"$3\" -L -c %u:%d:%i /proc/self/fd/3)\" = \"$2\" ] || { echo \"" + OverlayLauncher.SetupMarker + " the confinement helper $1 was replaced\" >&2; exit 125; }; " +
            "shift 3; exec \"$@\"",
            "sandbox-confine", helper, identity, ToolLocator.Require("stat", "coreutils"),
            ToolLocator.Require("nsenter", "util-linux"), $"--target={Leader.Pid}",
            "--user", "--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup", "--root", "--wd", "--",
            "/proc/self/fd/3", workingDirectory,
        });
        return argv;
    }

    /// <summary>st_dev as stat(1) prints it: glibc's makedev encoding.</summary>
    private static ulong DeviceNumber(uint major, uint minor) =>
        (((ulong)major & 0xfffff000) << 32) | (((ulong)major & 0xfff) << 8) | (((ulong)minor & 0xffffff00) << 12) | ((ulong)minor & 0xff);

    /// <summary>Where a command's own cgroup goes: below the machine's payload, so it is inside the machine's cgroup namespace.</summary>
    public static SandboxCgroup CommandCgroup(SandboxInfo sandbox)
    {
        var machine = SandboxCgroup.Of(sandbox).Child(CgroupName);
        var payload = machine.Child("payload");
        var inside = payload.Folders.All(Directory.Exists) ? payload : machine;
        return inside.Child($"sandbox-run-{Guid.NewGuid():N}");
    }

    /// <summary>The machine's cgroup below its sandbox's.</summary>
    public const string CgroupName = "boot";

    /// <summary>
    /// Powers the machine off (SIGTERM to nspawn asks its init to shut down), then makes sure; only
    /// when its nspawn is provably ours (a record naming any other process signals nothing).
    /// </summary>
    public void PowerOff()
    {
        if (!MachineProcesses.IsOurNspawn(Nspawn, NotifySocket)) return;
        // Checked now: once nspawn is gone, the leader's parent no longer says whose it was.
        PowerOff(Nspawn, MachineProcesses.IsLeaderOf(Leader, Nspawn) ? Leader : null);
    }

    /// <summary>Signals go through pidfds to these very processes (never to a later one that got the pid).</summary>
    private static void PowerOff(ProcessIdentity nspawn, ProcessIdentity? leader)
    {
        nspawn.Signal(LibC.SIGTERM);
        var deadline = DateTime.UtcNow + PowerOffTimeout;
        while (nspawn.IsAlive && DateTime.UtcNow < deadline) Thread.Sleep(50);
        if (nspawn.IsAlive) ProcessTree.KillTrees(new[] { nspawn });
        leader?.Signal(LibC.SIGKILL); // ends its pid namespace
    }

    /// <summary>
    /// The pid file is written by the detached shell just before it becomes nspawn: until then
    /// nspawn has not started, not exited. A zombie has exited too (where PID 1 does not reap).
    /// </summary>
    private static bool NspawnExited(MachineFolder folder) =>
        folder.ReadText(PidFileName) is { } text && int.TryParse(text.Trim(), out var pid)
        && ProcessIdentity.StatFieldsAfterName(pid) is not [not ("Z" or "X"), ..];

    /// <summary>
    /// -Boot runs the image's systemd and waits for it to say it is ready (sd_notify); an image
    /// without it (busybox, a minbase Debian) would have nspawn fail to exec an init, or run one
    /// that never reports. Checked before booting, so the error names the fix.
    /// </summary>
    public static void RequireSystemd(SandboxInfo sandbox)
    {
        var layer = OverlayLayer.Of(sandbox);
        if (SystemdPaths.Any(layer.Reader.IsFile)) return;
        throw SandboxErrors.BootNeedsSystemd(sandbox.Image, SystemdPaths[0]);
    }

    /// <summary>Where nspawn --boot looks for systemd, in its order (before falling back to /sbin/init).</summary>
    private static readonly string[] SystemdPaths = { "/usr/lib/systemd/systemd", "/lib/systemd/systemd" };

    private static ProcessIdentity? ReadNspawn(MachineFolder folder) =>
        folder.ReadText(PidFileName) is { } text && int.TryParse(text.Trim(), out var pid) ? ProcessIdentity.Of(pid) : null;

    private static string Tail(MachineFolder folder) =>
        folder.ReadText(LogName, 16 * 1024) is { } text ? string.Join('\n', text.Split('\n').TakeLast(15)) : "";
}
