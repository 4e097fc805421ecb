using Sandbox.Images;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests;

/// <summary>
/// Enter-Sandbox -Boot: an image with systemd boots under systemd-nspawn, commands run inside the
/// running machine (PID 1 is systemd), and removal leaves no process, mount or folder behind.
/// </summary>
[Trait("Provider", "Nspawn")]
[Trait("User", "Root")]
public sealed class NspawnBootTests : IClassFixture<NspawnBootTests.SystemdImage>
{
    private readonly SystemdImage _image;

    public NspawnBootTests(SystemdImage image) => _image = image;

    public sealed class SystemdImage : IDisposable
    {
        public const string Name = "bookworm-systemd";
        private readonly InProcessHarness? _harness;

        public SystemdImage()
        {
            if (Environment.UserName != "root") return;
            _harness = new InProcessHarness();
            Engine = _harness.Engine;
            Engine.Images.Build(Name, new ImageBuildOptions { Suite = "bookworm", Include = new[] { "systemd", "dbus" } }, force: false);
        }

        public SandboxEngine Engine { get; } = null!;
        public void Dispose() => _harness?.Dispose();
    }

    [SkippableFact]
    public void Booted_machine_runs_systemd_as_pid_1_and_removal_leaves_nothing_behind()
    {
        Skip.If(Environment.UserName != "root", "systemd-nspawn needs root; run the tests as root (CI does).");
        var engine = _image.Engine;
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = SystemdImage.Name, Provider = ProviderName.Nspawn, Boot = true });
        var machine = Providers.BootedMachine.Of(engine.GetSandbox(sandbox.Id))!;
        Assert.True(machine.Leader.IsAlive);

        var pid1 = engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "cat", "/proc/1/comm" } });
        Assert.Equal("systemd\n", pid1.StdOut);
        var state = engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "systemctl", "is-system-running", "--wait" }, Timeout = TimeSpan.FromSeconds(60) });
        Assert.Contains(state.StdOut.Trim(), new[] { "running", "degraded" });
        // Writes persist between commands inside the running machine, and stay out of the image.
        engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sh", "-c", "echo booted > /root/mark" } });
        Assert.Equal("booted\n", engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "cat", "/root/mark" } }).StdOut);
        Assert.Equal("1000\n", engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "id", "-u" }, User = "1000" }).StdOut);
        var missing = Assert.Throws<SandboxException>(() => engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "no-such-program" } }));
        Assert.Equal("CommandNotFound", missing.ErrorId);

        engine.RemoveSandbox(sandbox);

        Assert.False(machine.Leader.IsAlive, "the machine's init is gone");
        Assert.False(machine.Nspawn.IsAlive, "systemd-nspawn is gone");
        Assert.Empty(HostProcesses.Mentioning(sandbox.StatePath));
        Assert.DoesNotContain(sandbox.StatePath, File.ReadAllText("/proc/self/mountinfo"));
        Assert.False(Directory.Exists(sandbox.StatePath));
        Assert.False(File.Exists(Path.Combine(_image.Engine.Images.Get(SystemdImage.Name).RootFs, "root/mark")));
    }
}
