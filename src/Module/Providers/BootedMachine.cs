using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Sandbox.Native;
using Sandbox.Processes;

namespace Sandbox.Providers;

/// <summary>
/// A sandbox booted with its image's init under systemd-nspawn --boot, for service tests. It runs
/// detached from the process that made it (so a pwsh session may end while it lives), announces
/// readiness through sd_notify (--notify-ready=yes: nspawn relays the container's READY=1 and its
/// leader's pid to our socket), takes later commands through nsenter into the leader's namespaces,
/// and is powered off on removal. boot.json in the state folder names both processes.
/// </summary>
public sealed class BootedMachine
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan PowerOffTimeout = TimeSpan.FromSeconds(30);

    public required ProcessIdentity Nspawn { get; init; }
    public required ProcessIdentity Leader { get; init; }

    private static string StateFile(SandboxInfo sandbox) => Path.Combine(sandbox.StatePath, "boot.json");
    public static string LogFile(SandboxInfo sandbox) => Path.Combine(sandbox.StatePath, "boot.log");

    public static BootedMachine? Of(SandboxInfo sandbox)
    {
        var file = StateFile(sandbox);
        if (!File.Exists(file)) return null;
        var saved = JsonSerializer.Deserialize<Dictionary<string, ulong>>(File.ReadAllText(file))!;
        return new BootedMachine
        {
            Nspawn = new ProcessIdentity((int)saved["nspawnPid"], saved["nspawnStart"]),
            Leader = new ProcessIdentity((int)saved["leaderPid"], saved["leaderStart"]),
        };
    }

    /// <summary>Starts nspawn detached (setsid --fork) and waits until the image's init says it is ready.</summary>
    public static BootedMachine Boot(SandboxInfo sandbox, IReadOnlyList<string> nspawnArgv, IEngineLog log)
    {
        var socketPath = Path.Combine(sandbox.StatePath, "notify.sock");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(socketPath));
        socket.ReceiveTimeout = (int)BootTimeout.TotalMilliseconds;

        // setsid --fork: nspawn is reparented at once, so it outlives us and is nobody's zombie.
        // Its output goes to boot.log; "exec" keeps the pid recorded by the shell the nspawn pid.
        var pidFile = Path.Combine(sandbox.StatePath, "nspawn.pid");
        var argv = new List<string>
        {
            ToolLocator.Require("setsid", "util-linux"), "--fork", ToolLocator.Require("sh", "dash"), "-c",
            "echo $$ > \"$1\"; exec >\"$2\" 2>&1 </dev/null; shift 2; exec \"$@\"", "sandbox-boot", pidFile, LogFile(sandbox),
        };
        argv.AddRange(nspawnArgv);
        log.Verbose(ShellQuote.Join(argv));
        var started = NativeProcessRunner.Run(new ProcessSpec
        {
            Argv = argv,
            Environment = new Dictionary<string, string> { ["PATH"] = ToolLocator.SystemPath, ["NOTIFY_SOCKET"] = socketPath, ["LANG"] = "C.UTF-8" },
        });
        if (started.ExitCode != 0) throw SandboxErrors.SetupFailed("Nspawn", sandbox.Name, started.StdErr);

        int? leaderPid = null;
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var message = Encoding.UTF8.GetString(buffer, 0, socket.Receive(buffer));
                foreach (var line in message.Split('\n'))
                {
                    if (line.StartsWith("X_NSPAWN_LEADER_PID=", StringComparison.Ordinal))
                        leaderPid = int.Parse(line["X_NSPAWN_LEADER_PID=".Length..], CultureInfo.InvariantCulture);
                }
                if (message.Split('\n').Contains("READY=1") && leaderPid is not null) break;
            }
        }
        catch (SocketException)
        {
            var failed = ReadNspawn(pidFile);
            if (failed is not null) PowerOff(failed.Value, null);
            throw SandboxErrors.SetupFailed("Nspawn", sandbox.Name,
                $"the machine did not report ready within {BootTimeout.TotalSeconds:F0} s. {Tail(LogFile(sandbox))}");
        }
        finally
        {
            File.Delete(socketPath);
        }

        var machine = new BootedMachine
        {
            Nspawn = ReadNspawn(pidFile) ?? throw SandboxErrors.SetupFailed("Nspawn", sandbox.Name, "nspawn exited during boot. " + Tail(LogFile(sandbox))),
            Leader = ProcessIdentity.Of(leaderPid!.Value) ?? throw SandboxErrors.SetupFailed("Nspawn", sandbox.Name, "the container's init exited during boot."),
        };
        File.WriteAllText(StateFile(sandbox), JsonSerializer.Serialize(new Dictionary<string, ulong>
        {
            ["nspawnPid"] = (ulong)machine.Nspawn.Pid, ["nspawnStart"] = machine.Nspawn.StartTicks,
            ["leaderPid"] = (ulong)machine.Leader.Pid, ["leaderStart"] = machine.Leader.StartTicks,
        }));
        return machine;
    }

    /// <summary>The nsenter prefix that runs a command inside the booted machine as the given user.</summary>
    public List<string> EnterArgv(PasswdFile.Account account, string workingDirectory)
    {
        if (!Leader.IsAlive)
            throw new SandboxException("MachineNotRunning", SandboxErrorKind.InvalidOperation,
                "The booted machine of this sandbox is no longer running.", "Remove the sandbox and enter a new one with -Boot.");
        return new List<string>
        {
            ToolLocator.Require("nsenter", "util-linux"), $"--target={Leader.Pid}",
            "--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup", "--root", $"--wd={workingDirectory}",
            $"--setuid={account.Uid}", $"--setgid={account.Gid}", "--",
        };
    }

    /// <summary>Powers the machine off (SIGTERM to nspawn asks its init to shut down), then makes sure.</summary>
    public void PowerOff() => PowerOff(Nspawn, Leader);

    private static void PowerOff(ProcessIdentity nspawn, ProcessIdentity? leader)
    {
        if (nspawn.IsAlive) LibC.kill(nspawn.Pid, LibC.SIGTERM);
        var deadline = DateTime.UtcNow + PowerOffTimeout;
        while (nspawn.IsAlive && DateTime.UtcNow < deadline) Thread.Sleep(50);
        if (nspawn.IsAlive) ProcessTree.KillTrees(new[] { nspawn.Pid });
        if (leader is { IsAlive: true } survivor) LibC.kill(survivor.Pid, LibC.SIGKILL); // ends its pid namespace
    }

    private static ProcessIdentity? ReadNspawn(string pidFile) =>
        File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid) ? ProcessIdentity.Of(pid) : null;

    private static string Tail(string file) =>
        File.Exists(file) ? string.Join('\n', File.ReadLines(file).TakeLast(15)) : "";
}
