using System.Diagnostics;
using Sandbox.Providers;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Conformance;

/// <summary>The conformance suite for FakeChroot as the unprivileged user, plus its own pitfalls.</summary>
[Trait("Provider", "FakeChroot")]
[Trait("User", "NonRoot")]
public sealed class FakeChrootAsUnprivilegedUser(FakeChrootHarnessFixture fixture) : ProviderConformance<FakeChrootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.FakeChroot;
    protected override bool IsolatesSystem => false;
    protected override bool SupportsReadOnlyBinds => false;

    [SkippableFact]
    public void Looks_like_root_and_ownership_set_by_one_command_is_seen_by_the_next()
    {
        var sandbox = NewSandbox();
        Assert.Equal("0\n", Sh(sandbox, "id -u").StdOut);
        Assert.Equal(0, Sh(sandbox, "chown 1234 /data/file.txt && chmod 640 /data/file.txt").ExitCode);
        Assert.Equal("1234 640\n", Sh(sandbox, "stat -c '%u %a' /data/file.txt").StdOut);
        Harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void Absolute_links_ldconfig_and_dpkg_stay_inside_the_copy()
    {
        var sandbox = NewSandbox();
        // /var/run -> /run is absolute in Debian: resolved by the kernel it would be the host's /run.
        var marker = $"sandbox-test-{Guid.NewGuid():N}";
        Assert.Equal(0, Sh(sandbox, $"echo inside > /var/run/{marker}").ExitCode);
        Assert.False(File.Exists($"/run/{marker}"), "the write stayed in the sandbox");
        Assert.Equal("inside\n", Sh(sandbox, $"cat /run/{marker}").StdOut);
        Assert.Equal(0, Sh(sandbox, "ldconfig").ExitCode);
        Assert.Contains("Status: install ok installed", Sh(sandbox, "dpkg -s dash").StdOut);
        Assert.Equal("/usr/bin/dash\n", Sh(sandbox, "readlink -f /bin/sh").StdOut);
        Harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    [Trait("Area", "Reliability")]
    public void Killing_the_owner_mid_command_leaves_an_orphan_that_reaping_removes_with_its_faked()
    {
        var reaper = (RemoteHarness)Harness;
        var owner = new RemoteHarness(asRoot: false, sharedStore: reaper.StoreRoot);
        var sandbox = owner.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.FakeChroot });
        var seconds = Random.Shared.Next(1000, 9999).ToString();
        owner.StartInvoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", $"sleep {seconds} & sleep {seconds}" } });
        Assert.True(Poll.Until(() => HostProcesses.WithCommandLine("sleep", seconds).Count == 2, TimeSpan.FromSeconds(20)), "the command is running");

        owner.KillHost();
        owner.Dispose();
        Assert.Equal(SandboxStatus.Orphaned, reaper.List().Single(s => s.Id == sandbox.Id).Status);

        Assert.Contains(sandbox.Name, reaper.ReapOrphans());
        Assert.Empty(HostProcesses.StillRunningAfter(TimeSpan.FromSeconds(5), "sleep", seconds));
        Assert.Empty(HostProcesses.Mentioning(Harness.StateFolder(sandbox.Id)));
        Assert.False(Directory.Exists(Harness.StateFolder(sandbox.Id)));
    }

    [SkippableFact]
    [Trait("Area", "Reliability")]
    public void Removal_kills_a_setsid_daemon_of_the_sandbox_but_not_host_processes_of_the_user_that_use_its_copy()
    {
        var sandbox = NewSandbox();
        var seconds = Random.Shared.Next(1000, 9999).ToString();
        Assert.Equal(0, Sh(sandbox, $"setsid sleep {seconds} </dev/null >/dev/null 2>&1 &").ExitCode);
        Assert.True(Poll.Until(() => HostProcesses.WithCommandLine("sleep", seconds).Count == 1, TimeSpan.FromSeconds(20)), "the daemon runs");

        // The same user on the host, reading a file of the copy and working in it, without fakechroot.
        var copy = Path.Combine(Harness.StateFolder(sandbox.Id), "root");
        var hostSeconds = (int.Parse(seconds) + 1).ToString();
        using var tail = Process.Start(new ProcessStartInfo("runuser", new[] { "-u", UnprivilegedUser.Name, "--", "tail", "-f", Path.Combine(copy, "etc/hostname") })
            { RedirectStandardOutput = true })!;
        using var worker = Process.Start(new ProcessStartInfo("runuser", new[] { "-u", UnprivilegedUser.Name, "--", "sh", "-c", "cd \"$1\" && exec sleep \"$2\"", "host-worker", copy, hostSeconds }))!;
        try
        {
            Assert.True(Poll.Until(() => HostProcesses.WithCommandLine("sleep", hostSeconds).Count == 1
                && HostProcesses.WithCommandLine("tail", "-f", Path.Combine(copy, "etc/hostname")).Count == 1, TimeSpan.FromSeconds(20)), "the host processes run");

            Harness.Remove(sandbox.Id);

            Assert.Empty(HostProcesses.StillRunningAfter(TimeSpan.FromSeconds(10), "sleep", seconds));
            Assert.Single(HostProcesses.WithCommandLine("sleep", hostSeconds));
            Assert.Single(HostProcesses.WithCommandLine("tail", "-f", Path.Combine(copy, "etc/hostname")));
        }
        finally
        {
            // Ours, and the daemon too should removal have missed it (a failing test leaves nothing running).
            foreach (var pid in HostProcesses.WithCommandLine("sleep", hostSeconds).Concat(HostProcesses.WithCommandLine("tail", "-f", Path.Combine(copy, "etc/hostname")))
                         .Concat(HostProcesses.WithCommandLine("sleep", seconds)))
                RunAsRoot.Command("kill", "-9", pid.ToString());
            tail.WaitForExit();
            worker.WaitForExit();
        }
    }

    [SkippableFact]
    public void An_image_this_user_cannot_read_is_refused_with_how_to_make_one_for_FakeChroot()
    {
        using var tree = new TemporaryFolder("unreadable-image");
        Harness.Import("unreadable", BusyboxTree.Create(Path.Combine(tree.Path, "rootfs")));
        // What an image made as root holds: a file only root may read.
        RunAsRoot.Command("install", "-m", "600", "-o", "root", "/dev/null", Path.Combine(Harness.ImageRootFs("unreadable"), "etc", "shadow-of-root"));

        var error = Assert.Throws<SandboxException>(() => Harness.Create(new SandboxCreateOptions { Image = "unreadable", Provider = ProviderName.FakeChroot }));

        Assert.Equal("ImageNotCopyable", error.ErrorId);
        Assert.Contains("-Mode Fakechroot", error.Message);
        Assert.DoesNotContain("disk space", error.Message);
        Assert.DoesNotContain(Harness.List(), s => s.Image == "unreadable");
    }

    /// <summary>
    /// The same script through the engine and through `fakechroot chroot COPY` with the variables the
    /// engine used to give the scripts (and the sandbox's own faked): the same identity, owners,
    /// modes and environment (the shell's own, /proc/$$: a redirect from /proc/self is opened
    /// before the exec and reads nothing after it). The scripts export the host's working folder
    /// as PWD, which is left out, as is TERM (the engine passes on its caller's), and the host's own
    /// /dev, /proc and /sys (their link counts change with the host's processes and devices), left
    /// out by ls itself: filtered afterwards, /proc's count still set the column's width, which
    /// changed when the host's processes went past 99 between the two runs (a CI failure).
    /// </summary>
    [SkippableFact]
    public void Commands_see_exactly_what_they_saw_under_the_fakechroot_and_fakeroot_scripts()
    {
        var sandbox = NewSandbox();
        Assert.Equal(0, Sh(sandbox, "chown 1234:42 /data/file.txt && chmod 640 /data/file.txt && mkdir /made && chown 7:8 /made").ExitCode);
        const string script = "id; ls -ln --time-style=+ -I dev -I proc -I sys /; stat -c '%u %g %a %n' /data/file.txt /made /etc/passwd; pwd; "
                              + "cat /proc/$$/environ | tr '\\0' '\\n' | grep -v -e '^PWD=' -e '^TERM=' | sort";
        var engine = Sh(sandbox, script);
        Assert.Equal(0, engine.ExitCode);

        var state = Harness.StateFolder(sandbox.Id);
        var key = File.ReadAllText(Path.Combine(state, "faked.out")).Trim().Split(':')[0];
        var wrapper = new List<string> { "-u", UnprivilegedUser.Name, "--", "env", "-i", "PATH=" + CommandEnvironment.SandboxPath, "HOME=/root",
            "LANG=C.UTF-8", "TERM=dumb", "FAKEROOTKEY=" + key, "LD_LIBRARY_PATH=" + FakeChrootEnvironment.FakerootLibraries,
            "LD_PRELOAD=libfakeroot-sysv.so", "FAKECHROOT_EXCLUDE_PATH=/dev:/proc:/sys" };
        wrapper.AddRange(new[] { "FAKEROOTUID", "FAKEROOTEUID", "FAKEROOTSUID", "FAKEROOTFUID", "FAKEROOTGID", "FAKEROOTEGID", "FAKEROOTSGID", "FAKEROOTFGID" }
            .Select(name => name + "=0"));
        wrapper.AddRange(new[] { "fakechroot", "chroot", Path.Combine(state, "root"), "/bin/sh", "-c", script });
        var expected = RunAsRoot.Command("runuser", wrapper.ToArray());

        Assert.Contains("uid=0(root)", expected);
        Assert.Contains("1234 42 640 /data/file.txt", expected);
        Assert.Contains("FAKECHROOT_BASE=", expected);
        Assert.Equal(expected, engine.StdOut);
        Harness.Remove(sandbox.Id);
    }

    /// <summary>
    /// A plain command starts with no chroot in front (FakeChrootDirectStart) and sees what it saw
    /// through chroot: its own name (argv[0] and comm), "/" as its folder. A program reached through
    /// a link out of the copy (a bind is one: the kernel resolves it on the host) still starts
    /// through chroot, so it is the host's program, even where the copy has a file of the same path.
    /// </summary>
    [SkippableFact]
    public void A_direct_start_keeps_the_programs_name_and_folder_and_binds_still_run_the_hosts_program()
    {
        var host = Directory.CreateTempSubdirectory("direct-bind-").FullName;
        try
        {
            File.Copy("/bin/echo", Path.Combine(host, "tool"));
            RunAsRoot.Command("chmod", "-R", "a+rX", host);
            var sandbox = NewSandbox(new[] { new BindMount(host, "/hb", ReadOnly: false) });
            // The same path inside the copy holds another program: pwd.
            Assert.Equal(0, Sh(sandbox, $"mkdir -p {host} && cp /bin/pwd {host}/tool").ExitCode);

            var named = Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "cat", "/proc/self/comm", "/proc/self/cmdline" } });
            Assert.Equal("cat\ncat\0/proc/self/comm\0/proc/self/cmdline\0", named.StdOut);
            Assert.Equal("/\n", Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "pwd" } }).StdOut);
            Assert.Equal("hello\n", Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "/hb/tool", "hello" } }).StdOut);
            Assert.Equal("hello\n", Harness.Invoke(sandbox.Id, new SandboxCommand
            {
                Argv = new[] { "tool", "hello" }, Environment = new Dictionary<string, string> { ["PATH"] = "/hb:/usr/bin:/bin" },
            }).StdOut);
            Harness.Remove(sandbox.Id);
        }
        finally
        {
            Directory.Delete(host, recursive: true);
        }
    }

    /// <summary>
    /// The command's parent was the shell running chroot.fakechroot (which does not exec), below the
    /// shell running fakechroot: about 40 processes per command. Now chroot is started directly.
    /// </summary>
    [SkippableFact]
    public void A_command_is_started_without_the_wrapper_scripts_shells()
    {
        var sandbox = NewSandbox();
        var parent = Sh(sandbox, "tr '\\0' ' ' </proc/$PPID/cmdline; echo; readlink /proc/$PPID/exe");
        Assert.Equal(0, parent.ExitCode);
        var lines = parent.StdOut.Split('\n');
        Assert.DoesNotContain("/usr/sbin/chroot.fakechroot", lines[0].Split(' ').Take(3)); // was: /bin/sh /usr/sbin/chroot.fakechroot COPY ...
        Assert.NotEqual("/usr/bin/dash", lines[1]);
        Harness.Remove(sandbox.Id);
    }

    /// <summary>
    /// A removal moves the sandbox to the store's trash and deletes it in the background; what a
    /// killed remover left there (its process is gone) is swept by the next removal, which deletes
    /// the entry without following the links in it.
    /// </summary>
    [SkippableFact]
    [Trait("Area", "Reliability")]
    public void Removal_empties_the_trash_and_sweeps_what_a_killed_remover_left_without_following_links()
    {
        using var host = new TemporaryFolder("trash-victim");
        var victim = Path.Combine(host.Path, "keep.txt");
        File.WriteAllText(victim, "host file\n");
        RunAsRoot.Command("chown", "-R", $"{UnprivilegedUser.Name}:", host.Path);
        var trash = Path.Combine(Harness.StoreRoot, "trash");
        // pid 1 never started at tick 1: the owner of this entry is gone.
        var left = Path.Combine(trash, "0123456789ab-1-1-deadbeef");
        RunAsRoot.Command("runuser", "-u", UnprivilegedUser.Name, "--", "sh", "-c",
            // Made beside it and renamed into place whole: a sweep running meanwhile (an earlier test's
            // removal or pool refill) must meet the finished entry, never one half made.
            "mkdir -p \"$1.tmp/root/deep\" && echo x > \"$1.tmp/root/deep/file\" && ln -s \"$2\" \"$1.tmp/root/link-to-folder\" && ln -s \"$2/keep.txt\" \"$1.tmp/root/link-to-file\" && mv \"$1.tmp\" \"$1\"",
            "make-trash", left, host.Path);

        var sandbox = NewSandbox();
        Sh(sandbox, "chown 42 /data/file.txt");
        Harness.Remove(sandbox.Id);

        Assert.False(Directory.Exists(Harness.StateFolder(sandbox.Id)), "the sandbox is gone at once");
        Assert.True(Poll.Until(() => !Directory.EnumerateFileSystemEntries(trash).Any(), TimeSpan.FromSeconds(60)),
            "the removed copy and the leftover entry are deleted: " + string.Join(", ", Directory.EnumerateFileSystemEntries(trash)));
        Assert.Equal("host file\n", File.ReadAllText(victim));
    }

    [SkippableFact]
    public void Removal_stops_the_sandboxs_faked()
    {
        var sandbox = NewSandbox();
        Sh(sandbox, "chown 42 /data/file.txt");
        var announcement = File.ReadAllText(Path.Combine(Harness.StateFolder(sandbox.Id), "faked.out")).Trim();
        var pid = int.Parse(announcement.Split(':')[1]);
        Assert.True(Directory.Exists($"/proc/{pid}"), "one faked runs for the sandbox");

        Harness.Remove(sandbox.Id);

        Assert.Empty(HostProcesses.StillRunningAfter(TimeSpan.FromSeconds(5), "/usr/bin/faked-sysv", "--foreground", "--load", "--save-file",
            Path.Combine(Harness.StateFolder(sandbox.Id), "fakeroot.db")));
        Assert.False(Directory.Exists($"/proc/{pid}") && File.ReadAllText($"/proc/{pid}/cmdline").Contains("faked"));
    }
}

/// <summary>As root the FakeChroot provider refuses: nothing but LD_PRELOAD would stand between root and the host.</summary>
[Trait("Provider", "FakeChroot")]
[Trait("User", "Root")]
[Trait("Area", "Reliability")]
public sealed class FakeChrootAsRoot(RootHarnessFixture fixture) : IClassFixture<RootHarnessFixture>
{
    [SkippableFact]
    public void Refuses_to_run_as_root_with_a_message_naming_the_alternatives()
    {
        Skip.If(fixture.SkipReason is not null, fixture.SkipReason);
        var error = Assert.Throws<SandboxException>(() => fixture.Harness.Create(
            new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.FakeChroot }));
        Assert.Equal("ProviderUnavailable", error.ErrorId);
        Assert.Contains("Bubblewrap", error.Message);
        Assert.Empty(fixture.Harness.List());
    }
}
