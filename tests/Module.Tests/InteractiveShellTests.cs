using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests;

/// <summary>
/// Enter-Sandbox -Shell's engine path on a real terminal: tmux runs an interactive bash (a user's
/// shell with job control), where EngineHost is typed; it creates a sandbox, runs its shell on a
/// pseudo-terminal of its own relayed to the pane, and removes the sandbox when the shell exits.
/// Every provider's interactive path goes through the same relay.
/// </summary>
public abstract class InteractiveShellContract<TFixture> where TFixture : HarnessFixture
{
    private readonly TFixture _fixture;

    protected InteractiveShellContract(TFixture fixture) => _fixture = fixture;

    protected abstract ProviderName Provider { get; }

    /// <summary>What the EngineHost command line starts with: nothing as root, runuser for the rootless case.</summary>
    protected virtual string RunAs => "";

    [SkippableFact]
    public void Shell_runs_follows_resizes_returns_its_exit_code_and_gives_the_terminal_back()
    {
        Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
        using var log = new TemporaryFolder("shell-log");
        var stderr = Path.Combine(log.Path, "stderr");
        var (before, after) = (Path.Combine(log.Path, "before"), Path.Combine(log.Path, "after"));
        // A unique duration, so the test finds its own sleep among the host's processes.
        var sleepSeconds = Random.Shared.Next(100_000, 999_999).ToString();
        using (var terminal = TmuxSession.WithBash())
        {
            // The terminal's settings just before and just after, on the same command line: bash
            // keeps whatever a job that exited normally left, so a terminal left raw shows in "after".
            terminal.SendKeys($"stty -g >{before}; {HostCommand(stderr)}; stty -g >{after}", "Enter");
            Assert.True(terminal.WaitForScreen(screen => screen.Contains("sandbox-prompt$")), terminal.Screen);
            Assert.Single(_fixture.Harness.List());

            terminal.SendKeys("echo answer=$((6 * 7)); hostname; echo size=$(stty size)", "Enter");
            // The sandbox is named after its image; its terminal starts with the pane's size.
            Assert.True(terminal.WaitForScreen(screen => screen.Contains("answer=42") && screen.Contains("\ntestimage-")
                && screen.Contains($"size={TmuxSession.Rows} {TmuxSession.Columns}")), terminal.Screen);

            terminal.Resize(100, 25);
            terminal.SendKeys("echo resized=$(stty size)", "Enter");
            Assert.True(terminal.WaitForScreen(screen => screen.Contains("resized=25 100")), terminal.Screen);

            // Ctrl-C interrupts the sandbox's foreground command, not the relay or the engine.
            terminal.SendKeys($"sleep {sleepSeconds}", "Enter");
            Assert.True(Poll.Until(() => HostProcesses.WithCommandLine("sleep", sleepSeconds).Count == 1, TimeSpan.FromSeconds(30)), terminal.Screen);
            terminal.SendKeys("C-c");
            Assert.Empty(HostProcesses.StillRunningAfter(TimeSpan.FromSeconds(30), "sleep", sleepSeconds));
            terminal.SendKeys("echo after-interrupt=$((6 * 7))", "Enter");
            Assert.True(terminal.WaitForScreen(screen => screen.Contains("after-interrupt=42")), terminal.Screen);

            terminal.SendKeys("exit 3", "Enter");
            Assert.True(Poll.Until(() => File.Exists(after), TimeSpan.FromSeconds(30)), terminal.Screen);
            Assert.Contains("shell exited 3; removed", File.ReadAllText(stderr));
            // The user's own shell has its terminal back, in the mode it left it in, and answers.
            Assert.Equal(File.ReadAllText(before), File.ReadAllText(after));
            terminal.SendKeys("echo host-answer=$((6 * 7))", "Enter");
            Assert.True(terminal.WaitForScreen(screen => screen.Contains("host-answer=42")), terminal.Screen);
        }
        Assert.Empty(_fixture.Harness.List());
    }

    /// <summary>
    /// Without a terminal (a pipe on stdin, output to a file) the shell reads the pipe as a script
    /// and ends at its end, as `sh &lt; file` does; it has no controlling terminal to inject into.
    /// </summary>
    [SkippableFact]
    public void Piped_stdin_is_read_as_a_script_by_a_shell_without_a_terminal()
    {
        Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
        using var log = new TemporaryFolder("shell-log");
        var stderr = Path.Combine(log.Path, "stderr");
        var output = RunAsRoot.Command("bash", "-c",
            $"printf 'echo piped=$((6 * 7)); tty || echo no-terminal; exit 5\\n' | {HostCommand(stderr)}; echo engine-exit=$?");
        Assert.Contains("piped=42", output);
        Assert.Contains("no-terminal", output);
        Assert.Contains("engine-exit=5", output);
        Assert.Contains("shell exited 5; removed", File.ReadAllText(stderr));
        Assert.Empty(_fixture.Harness.List());
    }

    /// <summary>
    /// The sandbox's shell types "exit 7" and a host command into its terminal with TIOCSTI. On the
    /// caller's terminal (the old way) the user's bash ran that command as soon as the shell exited.
    /// On the shell's own pty, the keys reach only the sandbox: its shell exits 7 (so the injection
    /// worked), and the host command never runs.
    /// </summary>
    [SkippableFact]
    public void Keystrokes_injected_from_inside_reach_only_the_sandbox_terminal()
    {
        Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
        Skip.If(KeystrokeInjector.Unavailable is not null, KeystrokeInjector.Unavailable);
        var marker = $"/tmp/sandbox-test-pwned-{Guid.NewGuid():N}";
        using var log = new TemporaryFolder("shell-log");
        var stderr = Path.Combine(log.Path, "stderr");
        try
        {
            using var terminal = TmuxSession.WithBash();
            terminal.SendKeys(HostCommand(stderr), "Enter");
            Assert.True(terminal.WaitForScreen(screen => screen.Contains("sandbox-prompt$")), terminal.Screen);

            terminal.SendKeys($"inject 'exit 7' 'touch {marker}'", "Enter");
            Assert.True(Poll.Until(() => File.Exists(stderr) && File.ReadAllText(stderr).Contains("shell exited 7; removed"), TimeSpan.FromSeconds(30)),
                terminal.Screen);
            // bash reads its input in order: had the injected line reached it, it ran before this one.
            terminal.SendKeys("echo host-answer=$((6 * 7))", "Enter");
            Assert.True(terminal.WaitForScreen(screen => screen.Contains("host-answer=42")), terminal.Screen);
            Assert.False(File.Exists(marker), "a command typed by the sandbox ran on the host");
        }
        finally
        {
            File.Delete(marker);
        }
    }

    private string HostCommand(string stderr) =>
        $"{RunAs}ENGINEHOST_PROVIDER={Provider} dotnet {EngineHostFiles.EntryAssembly} shell {_fixture.Harness.StoreRoot} " +
        // Quoted in two pieces, so the command line on the screen never reads as the prompt.
        $"{HarnessFixture.ImageName} PS1='sandbox''-prompt$ ' 2>{stderr}";
}

/// <summary>The busybox test image with the TIOCSTI injector added (when gcc can build it).</summary>
public sealed class RootShellFixture : HarnessFixture
{
    public RootShellFixture() : base(() => new InProcessHarness(),
        Environment.UserName == "root" ? null : "this fixture runs the engine as root; run the tests as root (CI does).") { }

    protected override void PrepareImage(ISandboxHarness harness, string scratch) => ShellImage.Prepare(harness, scratch);
}

public sealed class UserShellFixture : HarnessFixture
{
    public UserShellFixture() : base(() => new RemoteHarness(), UnprivilegedUser.CanCreate ? null : UnprivilegedUser.SkipReason) { }

    protected override void PrepareImage(ISandboxHarness harness, string scratch) => ShellImage.Prepare(harness, scratch);
}

internal static class ShellImage
{
    public static void Prepare(ISandboxHarness harness, string scratch)
    {
        var rootfs = BusyboxTree.Create(Path.Combine(scratch, "rootfs"));
        if (KeystrokeInjector.Unavailable is null) KeystrokeInjector.InstallInto(rootfs);
        harness.Import(HarnessFixture.ImageName, rootfs);
    }
}

[Trait("Provider", "Bubblewrap")]
[Trait("User", "Root")]
public sealed class BubblewrapShellAsRoot(RootShellFixture fixture) : InteractiveShellContract<RootShellFixture>(fixture), IClassFixture<RootShellFixture>
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
}

[Trait("Provider", "Bubblewrap")]
[Trait("User", "NonRoot")]
public sealed class BubblewrapShellRootless(UserShellFixture fixture) : InteractiveShellContract<UserShellFixture>(fixture), IClassFixture<UserShellFixture>
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;

    // As RemoteHarness runs EngineHost: the test user, a clean environment; the pane stays the terminal.
    protected override string RunAs =>
        $"runuser -u {UnprivilegedUser.Name} -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/{UnprivilegedUser.Name} " +
        "TERM=$TERM DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 ";
}

/// <summary>systemd-nspawn --console=interactive already gave the shell a pty of its own; it now sits on ours.</summary>
[Trait("Provider", "Nspawn")]
[Trait("User", "Root")]
public sealed class NspawnShellAsRoot(RootShellFixture fixture) : InteractiveShellContract<RootShellFixture>(fixture), IClassFixture<RootShellFixture>
{
    protected override ProviderName Provider => ProviderName.Nspawn;
}

/// <summary>A bookworm image with systemd, to boot (the same build as NspawnBootTests').</summary>
public sealed class SystemdShellFixture : HarnessFixture
{
    public SystemdShellFixture() : base(() => new InProcessHarness(),
        Environment.UserName == "root" ? null : "systemd-nspawn needs root; run the tests as root (CI does).") { }

    protected override void PrepareImage(ISandboxHarness harness, string scratch) =>
        harness.Build(ImageName, new Images.ImageBuildOptions { Suite = "bookworm", Include = new[] { "systemd", "dbus" } });
}

/// <summary>
/// Enter-Sandbox -Sandbox into a machine booted with -Boot: the shell enters it through nsenter,
/// on its own pty like every other interactive path. The image's bash sets its own prompt
/// (root@HOST:DIR#), and its perl does the TIOCSTI injection.
/// </summary>
[Trait("Provider", "Nspawn")]
[Trait("User", "Root")]
public sealed class NspawnBootedShellAsRoot(SystemdShellFixture fixture) : IClassFixture<SystemdShellFixture>
{
    [SkippableFact]
    public void Booted_machine_shell_follows_resizes_returns_its_exit_code_and_keeps_injected_keys()
    {
        Skip.If(fixture.SkipReason is not null, fixture.SkipReason);
        var marker = $"/tmp/sandbox-test-pwned-{Guid.NewGuid():N}";
        using var log = new TemporaryFolder("shell-log");
        var stderr = Path.Combine(log.Path, "stderr");
        try
        {
            using var terminal = TmuxSession.WithBash();
            terminal.SendKeys($"ENGINEHOST_BOOT=1 ENGINEHOST_PROVIDER=Nspawn dotnet {EngineHostFiles.EntryAssembly} shell " +
                $"{fixture.Harness.StoreRoot} {HarnessFixture.ImageName} 2>{stderr}", "Enter");
            // Booting takes a while; the shell's prompt shows once it is in.
            Assert.True(Poll.Until(() => terminal.Screen.Contains("root@"), TimeSpan.FromSeconds(150)), terminal.Screen);

            terminal.SendKeys("echo answer=$((6 * 7)) pid1=$(cat /proc/1/comm) size=$(stty size)", "Enter");
            Assert.True(terminal.WaitForScreen(screen => screen.Contains($"answer=42 pid1=systemd size={TmuxSession.Rows} {TmuxSession.Columns}")), terminal.Screen);
            terminal.Resize(100, 25);
            terminal.SendKeys("echo resized=$(stty size)", "Enter");
            Assert.True(terminal.WaitForScreen(screen => screen.Contains("resized=25 100")), terminal.Screen);

            terminal.SendKeys($"perl -e 'ioctl(STDIN, 0x5412, $_) or die qq{{TIOCSTI: $!}} for split //, qq{{exit 7\\ntouch {marker}\\n}}'", "Enter");
            Assert.True(Poll.Until(() => File.Exists(stderr) && File.ReadAllText(stderr).Contains("shell exited 7; removed"), TimeSpan.FromSeconds(60)),
                terminal.Screen);
            terminal.SendKeys("echo host-answer=$((6 * 7))", "Enter");
            Assert.True(terminal.WaitForScreen(screen => screen.Contains("host-answer=42")), terminal.Screen);
            Assert.False(File.Exists(marker), "a command typed by the sandbox ran on the host");
        }
        finally
        {
            File.Delete(marker);
        }
        Assert.Empty(fixture.Harness.List());
    }
}
