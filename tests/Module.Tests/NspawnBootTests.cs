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

    private static string StatusField(string status, string field) =>
        status.Split('\n').Single(line => line.StartsWith(field + ":", StringComparison.Ordinal))[(field.Length + 1)..].Trim();

    private static SandboxCommand Sh(string script, string? workingDirectory = null) =>
        new() { Argv = new[] { "sh", "-c", script }, WorkingDirectory = workingDirectory, Timeout = TimeSpan.FromSeconds(60) };

    [SkippableFact]
    public void Booted_machine_commands_are_confined_like_plain_nspawn_commands()
    {
        Skip.If(Environment.UserName != "root", "systemd-nspawn needs root; run the tests as root (CI does).");
        var engine = _image.Engine;
        var plain = engine.CreateSandbox(new SandboxCreateOptions { Image = SystemdImage.Name, Provider = ProviderName.Nspawn });
        var expected = engine.Invoke(plain, new SandboxCommand { Argv = new[] { "cat", "/proc/self/status" } }).StdOut;
        var booted = engine.CreateSandbox(new SandboxCreateOptions { Image = SystemdImage.Name, Provider = ProviderName.Nspawn, Boot = true });

        var status = engine.Invoke(booted, new SandboxCommand { Argv = new[] { "cat", "/proc/self/status" } }).StdOut;
        Assert.Equal(StatusField(expected, "CapBnd"), StatusField(status, "CapBnd"));
        Assert.Equal(StatusField(expected, "CapEff"), StatusField(status, "CapEff"));
        Assert.Equal("1", StatusField(status, "NoNewPrivs"));
        Assert.Equal("2", StatusField(status, "Seccomp"));

        // What the security issue did: make host sysctls writable, and make a node for a disk.
        Assert.NotEqual("0\n", engine.Invoke(booted, Sh("mount -o remount,rw /proc/sys 2>/dev/null; echo $?")).StdOut);
        Assert.Contains(" ro,", engine.Invoke(booted, Sh("grep ' /proc/sys ' /proc/self/mountinfo")).StdOut);
        Assert.Equal("1\n", engine.Invoke(booted, Sh("mknod /tmp/disk b 8 0 2>/dev/null; echo $?; ")).StdOut);
        Assert.NotEqual(0, engine.Invoke(booted, Sh("test -e /tmp/disk")).ExitCode);

        // The command's cgroup is inside the machine's cgroup namespace, not above its root.
        Assert.DoesNotContain("..", engine.Invoke(booted, new SandboxCommand { Argv = new[] { "cat", "/proc/self/cgroup" } }).StdOut);
    }

    [SkippableFact]
    public void Booted_machine_commands_work_inside_and_the_machine_is_named_after_its_sandbox()
    {
        Skip.If(Environment.UserName != "root", "systemd-nspawn needs root; run the tests as root (CI does).");
        var engine = _image.Engine;
        var name = $"booted-{Guid.NewGuid():N}"[..20];
        var booted = engine.CreateSandbox(new SandboxCreateOptions { Image = SystemdImage.Name, Provider = ProviderName.Nspawn, Boot = true, Name = name });
        var landed = $"landed-{Guid.NewGuid():N}";
        try
        {
            Assert.Equal("/\n", engine.Invoke(booted, new SandboxCommand { Argv = new[] { "pwd" } }).StdOut);
            Assert.Equal("/tmp\n", engine.Invoke(booted, Sh("pwd", workingDirectory: "/tmp")).StdOut);
            Assert.Equal(0, engine.Invoke(booted, Sh($"touch ./{landed}")).ExitCode);
            Assert.False(File.Exists("/" + landed), "touch ./x in a booted machine reached the host's root");
            Assert.Equal(0, engine.Invoke(booted, Sh($"test -e /{landed}")).ExitCode);

            Assert.Equal(name + "\n", engine.Invoke(booted, new SandboxCommand { Argv = new[] { "hostname" } }).StdOut);
            var missingFolder = Assert.Throws<SandboxException>(() => engine.Invoke(booted, Sh("pwd", workingDirectory: "/no/such/folder")));
            Assert.Equal("SandboxSetupFailed", missingFolder.ErrorId);
        }
        finally
        {
            if (File.Exists("/" + landed)) File.Delete("/" + landed);
        }
    }

    /// <summary>
    /// The hole this closes: root inside asked the machine's own systemd for a unit, which ran with
    /// init's CAP_SYS_ADMIN outside any confinement of ours, remounted /proc/sys read-write and
    /// rewrote a host sysctl. Booted in a user namespace of its own, init's capabilities hold only
    /// inside it. The host's kernel.panic is put back whatever happens.
    /// </summary>
    [SkippableFact]
    public void A_unit_started_by_the_machines_own_systemd_cannot_write_host_sysctls()
    {
        Skip.If(Environment.UserName != "root", "systemd-nspawn needs root; run the tests as root (CI does).");
        const string sysctl = "/proc/sys/kernel/panic";
        var engine = _image.Engine;
        var original = File.ReadAllText(sysctl);
        var attempt = original.Trim() == "7" ? "8" : "7";
        var booted = engine.CreateSandbox(new SandboxCreateOptions { Image = SystemdImage.Name, Provider = ProviderName.Nspawn, Boot = true });
        try
        {
            var unit = engine.Invoke(booted, Sh(
                $"systemd-run --wait --pipe --quiet sh -c 'echo unit-ran; mount -o remount,rw /proc/sys; echo {attempt} > {sysctl}; cat {sysctl}' 2>&1"));

            Assert.Contains("unit-ran", unit.StdOut); // the unit did start: the write was refused, not skipped
            Assert.Equal(original, File.ReadAllText(sysctl));
        }
        finally
        {
            if (File.ReadAllText(sysctl) != original) File.WriteAllText(sysctl, original);
            engine.RemoveSandbox(booted);
        }
    }

    /// <summary>
    /// The machine's root is a host uid of its own range, never host root, while the files keep
    /// the image's owners both inside (root:root, _apt) and on disk in upper/ (uid 0 for what the
    /// machine's root writes, the image's uid for a chown to an image account). Removal gives the
    /// range back and leaves no cgroup, mount or folder.
    /// </summary>
    [SkippableFact]
    public void Booted_machine_runs_in_a_user_namespace_of_its_own_and_keeps_the_images_owners()
    {
        Skip.If(Environment.UserName != "root", "systemd-nspawn needs root; run the tests as root (CI does).");
        var engine = _image.Engine;
        var booted = engine.CreateSandbox(new SandboxCreateOptions { Image = SystemdImage.Name, Provider = ProviderName.Nspawn, Boot = true });
        var info = engine.GetSandbox(booted.Id);
        var machine = Providers.BootedMachine.Of(info)!;
        var ids = Namespaces.BootIdRange.Of(info)!;
        var claim = Path.Combine(Namespaces.BootIdRange.ClaimFolder, ids.Base.ToString(System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            Assert.Equal($"{ids.Base}", StatusField(File.ReadAllText($"/proc/{machine.Leader.Pid}/status"), "Uid").Split('\t')[0]);
            Assert.Equal($"0 {ids.Base} 65536", string.Join(' ', engine.Invoke(booted, new SandboxCommand { Argv = new[] { "cat", "/proc/self/uid_map" } })
                .StdOut.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Trim());
            Assert.Equal("root:root\nroot:root\n",
                engine.Invoke(booted, new SandboxCommand { Argv = new[] { "stat", "-c", "%U:%G", "/usr/bin/passwd", "/root" } }).StdOut);
            Assert.Equal(0, engine.Invoke(booted, Sh("echo mine > /root/by-root && echo apt > /root/by-apt && chown _apt /root/by-apt")).ExitCode);
            Assert.Equal("root:root\n_apt:root\n", engine.Invoke(booted, Sh("stat -c %U:%G /root/by-root /root/by-apt")).StdOut);

            var upper = Path.Combine(info.StatePath, "upper");
            var aptUid = File.ReadLines(Path.Combine(_image.Engine.Images.Get(SystemdImage.Name).RootFs, "etc/passwd"))
                .Select(line => line.Split(':')).Single(fields => fields[0] == "_apt")[2];
            Assert.Equal(0u, Native.FileStatus.Of(Path.Combine(upper, "root/by-root"))!.Value.Uid);
            Assert.Equal(0u, Native.FileStatus.Of(Path.Combine(upper, "root/by-root"))!.Value.Gid);
            Assert.Equal(uint.Parse(aptUid, System.Globalization.CultureInfo.InvariantCulture), Native.FileStatus.Of(Path.Combine(upper, "root/by-apt"))!.Value.Uid);
            Assert.True(File.Exists(claim));

            // The idmapped views were made on a thread of their own: none of the engine's threads
            // stays in that mount namespace (later spawns from it would see them).
            var engineNamespace = new FileInfo("/proc/self/ns/mnt").LinkTarget;
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                string? taskNamespace;
                try { taskNamespace = new FileInfo(Path.Combine(task, "ns/mnt")).LinkTarget; }
                catch (IOException) { continue; } // the thread ended meanwhile
                if (taskNamespace is not null) Assert.Equal(engineNamespace, taskNamespace);
            }
        }
        finally
        {
            engine.RemoveSandbox(booted);
        }
        Assert.False(machine.Leader.IsAlive);
        Assert.False(File.Exists(claim), "the uid range was given back");
        Assert.DoesNotContain(info.StatePath, File.ReadAllText("/proc/self/mountinfo"));
        Assert.False(Directory.Exists(info.StatePath));
        Assert.DoesNotContain(Cgroups.SandboxCgroup.Of(info).Folders, Directory.Exists);
    }

    /// <summary>
    /// Under sudo the state folder is the caller's. The detached shell that becomes nspawn wrote its pid
    /// there by path as root (echo $$ > nspawn.pid): a link the caller put at that name had root
    /// truncate and overwrite the file it leads to. The machine's runtime files are now in a folder
    /// only root can reach (MachineFolder), so the link is never looked at. The link is planted while
    /// the engine logs the boot's command line, after the state folder is made and before the spawn.
    /// </summary>
    [SkippableFact]
    public void A_link_planted_at_nspawn_pid_in_the_state_folder_gets_no_write_through_it()
    {
        Skip.If(Environment.UserName != "root", "systemd-nspawn needs root; run the tests as root (CI does).");
        using var victims = new TemporaryFolder("boot-pid-link");
        var victim = Path.Combine(victims.Path, "precious");
        File.WriteAllText(victim, "root's own\n");
        var sandboxes = Path.Combine(_image.Engine.Layout.Root, "sandboxes");
        var before = Directory.Exists(sandboxes) ? Directory.GetDirectories(sandboxes).ToHashSet() : new HashSet<string>();
        var planted = false;
        var engine = new SandboxEngine(_image.Engine.Layout, new SwapOnLogLine("sandbox-boot", () =>
        {
            var state = Directory.GetDirectories(sandboxes).Single(folder => !before.Contains(folder));
            File.CreateSymbolicLink(Path.Combine(state, "nspawn.pid"), victim);
            planted = true;
        }));
        SandboxInfo? booted = null;
        try
        {
            booted = engine.CreateSandbox(new SandboxCreateOptions { Image = SystemdImage.Name, Provider = ProviderName.Nspawn, Boot = true });

            Assert.True(planted, "the boot's command line was not logged: nothing was planted");
            Assert.Equal("root's own\n", File.ReadAllText(victim));
            Assert.Equal("systemd\n", engine.Invoke(booted, new SandboxCommand { Argv = new[] { "cat", "/proc/1/comm" } }).StdOut);
        }
        finally
        {
            if (booted is not null) engine.RemoveSandbox(booted);
        }
        Assert.Equal("root's own\n", File.ReadAllText(victim));
    }

    /// <summary>
    /// The same shell then reopened its output by path as root (exec >boot.log): a link the caller
    /// swapped in for the log had root truncate the file it leads to and write nspawn's output there.
    /// The moment is forced: the test makes nspawn.pid a FIFO, so the shell waits at its pid until the
    /// test has swapped boot.log (made by then) for a link, and only then reads the pid.
    /// </summary>
    [SkippableFact]
    public void A_link_swapped_in_for_boot_log_in_the_state_folder_gets_no_write_through_it()
    {
        Skip.If(Environment.UserName != "root", "systemd-nspawn needs root; run the tests as root (CI does).");
        using var victims = new TemporaryFolder("boot-log-link");
        var victim = Path.Combine(victims.Path, "precious");
        File.WriteAllText(victim, "root's own\n");
        var sandboxes = Path.Combine(_image.Engine.Layout.Root, "sandboxes");
        var before = Directory.Exists(sandboxes) ? Directory.GetDirectories(sandboxes).ToHashSet() : new HashSet<string>();
        using var booting = new CancellationTokenSource();
        Task? swapper = null;
        var engine = new SandboxEngine(_image.Engine.Layout, new SwapOnLogLine("sandbox-boot", () =>
        {
            var state = Directory.GetDirectories(sandboxes).Single(folder => !before.Contains(folder));
            RunAsRoot.Command("mkfifo", Path.Combine(state, "nspawn.pid"));
            swapper = Task.Run(() => SwapLogForLinkWhileTheShellWaits(state, victim, booting.Token));
        }));
        SandboxInfo? booted = null;
        try
        {
            booted = engine.CreateSandbox(new SandboxCreateOptions { Image = SystemdImage.Name, Provider = ProviderName.Nspawn, Boot = true });

            Assert.NotNull(swapper);
            Assert.Equal("root's own\n", File.ReadAllText(victim));
            Assert.Equal("systemd\n", engine.Invoke(booted, new SandboxCommand { Argv = new[] { "cat", "/proc/1/comm" } }).StdOut);
        }
        finally
        {
            booting.Cancel();
            swapper?.Wait(TimeSpan.FromSeconds(30));
            if (booted is not null) engine.RemoveSandbox(booted);
        }
        Assert.Equal("root's own\n", File.ReadAllText(victim));
    }

    /// <summary>Once boot.log is there (the spawn made it), swaps it for a link to <paramref name="victim"/>, then lets the shell write its pid.</summary>
    private static void SwapLogForLinkWhileTheShellWaits(string state, string victim, CancellationToken booting)
    {
        var log = Path.Combine(state, "boot.log");
        while (!File.Exists(log))
        {
            if (booting.IsCancellationRequested) return; // never made there: nothing to swap
            Thread.Sleep(5);
        }
        File.Move(log, log + "-away");
        File.CreateSymbolicLink(log, victim);
        // cat is the FIFO's reader the shell waits for; the pid goes back as a plain file for the engine to read.
        var pidFile = Path.Combine(state, "nspawn.pid");
        try { RunAsRoot.Command("sh", "-c", "pid=$(timeout 10 cat \"$1\"); rm -f \"$1\"; echo \"$pid\" > \"$1\"", "unblock", pidFile); }
        catch (Exception) { } // the engine read it first: it has the pid all the same
    }

    /// <summary>
    /// A machine's host uid range was claimed in the name of its state folder's path, and a claim whose
    /// folder was not there counted as stale. Under sudo the caller can rename their booted sandbox's
    /// state folder away: the next machine (anyone's) was given the running machine's range, so the two
    /// machines' roots were the same host user. The claim is now held by the machine folder, which only
    /// root can remove and which goes only with the machine.
    /// </summary>
    [SkippableFact]
    public void A_running_machines_uid_range_is_not_taken_over_when_its_state_folder_is_renamed_away()
    {
        Skip.If(Environment.UserName != "root", "systemd-nspawn needs root; run the tests as root (CI does).");
        var engine = _image.Engine;
        var booted = engine.CreateSandbox(new SandboxCreateOptions { Image = SystemdImage.Name, Provider = ProviderName.Nspawn, Boot = true });
        var info = engine.GetSandbox(booted.Id);
        var ids = Namespaces.BootIdRange.Of(info)!;
        using var other = new TemporaryFolder("boot-ids-contender");
        var contender = new SandboxInfo
        {
            Id = Guid.NewGuid().ToString("N"), Name = "contender", Provider = "Nspawn", Image = "none", Created = DateTimeOffset.UtcNow,
            Boot = true, StatePath = other.Path,
        };
        Namespaces.BootIdRange? taken = null;
        Directory.Move(info.StatePath, info.StatePath + "-away");
        try
        {
            taken = Namespaces.BootIdRange.Claim(contender, ids.Slot);
        }
        finally
        {
            Directory.Move(info.StatePath + "-away", info.StatePath);
            if (taken is not null) Namespaces.BootIdRange.Release(contender);
            engine.RemoveSandbox(booted);
        }
        Assert.NotEqual(ids, taken);
    }

    [SkippableFact]
    public void Booting_an_image_without_systemd_fails_at_once_naming_the_packages_to_include()
    {
        Skip.If(Environment.UserName != "root", "systemd-nspawn needs root; run the tests as root (CI does).");
        var engine = _image.Engine;
        using var folder = new TemporaryFolder("busybox-boot");
        engine.Images.Import("busybox-no-init", BusyboxTree.Create(Path.Combine(folder.Path, "rootfs")), force: true);

        var error = Assert.Throws<SandboxException>(() => engine.CreateSandbox(new SandboxCreateOptions { Image = "busybox-no-init", Provider = ProviderName.Nspawn, Boot = true }));

        Assert.Equal("BootNeedsSystemd", error.ErrorId);
        Assert.Contains("/usr/lib/systemd/systemd", error.Message);
        Assert.Contains("-Include systemd-sysv,dbus", error.Message);
        Assert.DoesNotContain(engine.GetSandboxes(), s => s.Image == "busybox-no-init");
    }

    [SkippableFact]
    public void An_init_that_exits_during_boot_fails_the_boot_with_its_output_instead_of_waiting_it_out()
    {
        Skip.If(Environment.UserName != "root", "systemd-nspawn needs root; run the tests as root (CI does).");
        var engine = _image.Engine;
        using var folder = new TemporaryFolder("busybox-boot");
        var rootfs = BusyboxTree.Create(Path.Combine(folder.Path, "rootfs"));
        var init = Path.Combine(rootfs, "usr/lib/systemd/systemd");
        Directory.CreateDirectory(Path.GetDirectoryName(init)!);
        File.WriteAllText(init, "#!/bin/sh\necho this init gives up\nexit 3\n");
        File.SetUnixFileMode(init, (UnixFileMode)0b111_101_101);
        engine.Images.Import("busybox-bad-init", rootfs, force: true);

        var error = Assert.Throws<SandboxException>(() => engine.CreateSandbox(new SandboxCreateOptions { Image = "busybox-bad-init", Provider = ProviderName.Nspawn, Boot = true }));

        Assert.Equal("SandboxSetupFailed", error.ErrorId);
        Assert.Contains("exited during boot", error.Message);
        Assert.DoesNotContain("did not report ready", error.Message);
        Assert.DoesNotContain(engine.GetSandboxes(), s => s.Image == "busybox-bad-init");
    }
}
