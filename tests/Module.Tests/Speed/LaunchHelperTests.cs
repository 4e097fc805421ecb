using Sandbox.Processes;
using Sandbox.Providers;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Speed;

/// <summary>
/// The launch helper keeps what the links it replaced were for: the backend's exit code or signal
/// (time's "Command terminated by signal"), the backend's own peak memory (not the ~100 MB of the
/// .NET process a child of ours inherits at exec), a clear failure when the backend cannot be
/// executed, and for Nspawn a mount namespace of its own whose mounts never reach the host.
/// </summary>
[Trait("Area", "Speed")]
public sealed class LaunchHelperTests
{
    private static ProcessOutcome Launch(params string[] argv)
    {
        using var meter = new PeakMemoryMeter();
        var chain = BackendProcess.Chain(meter, argv, ownPidNamespace: false, backendDiesWithParent: false);
        Assert.Matches("^/proc/[0-9]+/fd/[0-9]+$", chain[0]); // the helper, not setpriv
        return meter.Correct(NativeProcessRunner.Run(new ProcessSpec { Argv = chain, Environment = BackendProcess.HostEnvironment() }));
    }

    [SkippableFact]
    public void The_backends_exit_code_comes_back()
    {
        Skip.IfNot(LaunchHelper.Supported, "the launch helper is x86-64 only");
        var outcome = Launch("/bin/sh", "-c", "echo out; echo err >&2; exit 7");

        Assert.Equal(7, outcome.ExitCode);
        Assert.Null(outcome.Signal);
        Assert.Equal("out\n", outcome.StdOut);
        Assert.Equal("err\n", outcome.StdErr);
    }

    [SkippableFact]
    public void A_backend_killed_by_a_signal_is_reported_as_that_signal()
    {
        Skip.IfNot(LaunchHelper.Supported, "the launch helper is x86-64 only");
        var outcome = Launch("/bin/sh", "-c", "kill -TERM $$");

        Assert.Equal(15, outcome.Signal);
        Assert.Null(outcome.ExitCode);
    }

    [SkippableFact]
    public void Peak_memory_is_the_backends_not_the_engines()
    {
        Skip.IfNot(LaunchHelper.Supported, "the launch helper is x86-64 only");
        var small = Launch("/bin/true");
        // sh holds a 40 MB string: its peak is at least that.
        var large = Launch("/bin/sh", "-c", "x=$(head -c 40000000 /dev/zero | tr '\\0' a); echo ${#x}");

        Assert.Equal("40000000\n", large.StdOut);
        // The engine's own child inherits the .NET process's high-water mark (~100 MB) at exec.
        Assert.True(small.PeakMemoryBytes is > 0 and < 20L * 1024 * 1024, $"/bin/true peaked at {small.PeakMemoryBytes} bytes");
        Assert.True(large.PeakMemoryBytes > 40_000_000, $"a 40 MB string peaked at {large.PeakMemoryBytes} bytes");
    }

    [SkippableFact]
    public void A_backend_that_cannot_be_executed_fails_with_127_and_says_so()
    {
        Skip.IfNot(LaunchHelper.Supported, "the launch helper is x86-64 only");
        using var folder = new TemporaryFolder("launch-missing");
        var outcome = Launch(Path.Combine(folder.Path, "no-such-backend"));

        Assert.Equal(127, outcome.ExitCode);
        Assert.Contains(LaunchHelper.ExecFailure, outcome.StdErr);
    }

    [SkippableFact]
    public void The_helper_is_a_sealed_file_no_command_holds()
    {
        Skip.IfNot(LaunchHelper.Supported, "the launch helper is x86-64 only");
        var outcome = Launch("/bin/sh", "-c", "ls -l /proc/$$/fd/");

        Assert.Equal(0, outcome.ExitCode);
        Assert.Contains("pipe:[", outcome.StdOut);
        Assert.DoesNotContain("memfd:", outcome.StdOut);
        var helper = LaunchHelper.Path(ownPidNamespace: false)!;
        Assert.ThrowsAny<Exception>(() => File.AppendAllText(helper, "x"));
    }

    /// <summary>The variant for a program started with nothing in front (FakeChroot's direct start): its own argv[0], in a folder.</summary>
    [SkippableFact]
    public void A_program_started_in_a_folder_gets_its_own_name_and_starts_there()
    {
        Skip.IfNot(LaunchHelper.Supported, "the launch helper is x86-64 only");
        var helper = LaunchHelper.PathStartingInFolder()!;
        ProcessOutcome Start(params string[] programFolderAndArgv)
        {
            using var meter = new PeakMemoryMeter();
            var argv = meter.WrapWithHelper(helper, programFolderAndArgv)!;
            return meter.Correct(NativeProcessRunner.Run(new ProcessSpec { Argv = argv, Environment = BackendProcess.HostEnvironment() }));
        }

        var started = Start("/bin/sh", "/usr/share", "given-name", "-c", "echo $0; pwd; exit 3");
        Assert.Equal("given-name\n/usr/share\n", started.StdOut);
        Assert.Equal(3, started.ExitCode);
        Assert.True(started.PeakMemoryBytes is > 0 and < 20L * 1024 * 1024, $"sh peaked at {started.PeakMemoryBytes} bytes");

        var nowhere = Start("/bin/sh", "/no/such/folder", "sh", "-c", "echo ran");
        Assert.Equal(127, nowhere.ExitCode);
        Assert.Equal("", nowhere.StdOut);
        Assert.Equal(LaunchHelper.ExecFailure + "\n", nowhere.StdErr);
    }

    [SkippableFact]
    public void An_Nspawn_commands_overlay_and_proc_mounts_stay_in_its_own_mount_namespace()
    {
        Skip.If(Environment.UserName != "root", "Nspawn runs as root; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("launch-mounts");
        var engine = busybox.Engine;
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Nspawn });
        try
        {
            var hostNamespace = File.ResolveLinkTarget("/proc/self/ns/mnt", returnFinalTarget: false)!.ToString();
            // The overlay shell mounts the overlay, and a tmpfs on /run/systemd/nspawn, with no
            // unshare --mount of its own: in the launcher's namespace. Had that been the host's,
            // they would still be mounted here after the command.
            var result = engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "true" } });
            Assert.Equal(0, result.ExitCode);

            var merged = Path.Combine(sandbox.StatePath, "merged");
            var mountInfo = File.ReadAllText("/proc/self/mountinfo");
            Assert.DoesNotContain(merged, mountInfo);
            // As root the overlay is moved onto a fixed folder of root's: only in the launcher's namespace.
            Assert.DoesNotContain($" {Sandbox.Providers.CommandLines.NspawnCommandLine.RootMountPoint} ", mountInfo);
            Assert.DoesNotContain(" /run/systemd/nspawn ", mountInfo);
            // The launcher mounted a /proc of its pid namespace: never over the host's.
            Assert.StartsWith($"{Environment.ProcessId} ", File.ReadAllText("/proc/self/stat"));
            Assert.Equal(hostNamespace, File.ResolveLinkTarget("/proc/self/ns/mnt", returnFinalTarget: false)!.ToString());
        }
        finally
        {
            engine.RemoveSandbox(sandbox);
        }
    }
}
