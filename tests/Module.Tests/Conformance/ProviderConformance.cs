using System.Text;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Conformance;

/// <summary>
/// The scenarios every provider must pass, as root and as the unprivileged user: lifecycle, exit
/// codes and output, stdin, environment, working directory, users, binds, network, timeouts, the
/// image left byte-identical, and removal leaving nothing behind. A provider's test class only
/// names the provider and the harness.
/// </summary>
public abstract class ProviderConformance<TFixture> : IClassFixture<TFixture> where TFixture : HarnessFixture
{
    private readonly TFixture _fixture;

    protected ProviderConformance(TFixture fixture) => _fixture = fixture;

    protected abstract ProviderName Provider { get; }

    /// <summary>Variables the provider itself sets for every command (nspawn's container=..., say).</summary>
    protected virtual IReadOnlyList<string> ProviderVariables => Array.Empty<string>();

    /// <summary>Whether the provider has namespaces: its own pid, network, /dev, /proc and per-command /tmp.</summary>
    protected virtual bool IsolatesSystem => true;

    protected virtual bool SupportsReadOnlyBinds => true;

    protected ISandboxHarness Harness
    {
        get
        {
            Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
            return _fixture.Harness;
        }
    }

    protected SandboxInfo NewSandbox(IReadOnlyList<BindMount>? mounts = null, NetworkMode? network = null,
        Dictionary<string, string>? environment = null) =>
        Harness.Create(new SandboxCreateOptions
        {
            Image = HarnessFixture.ImageName, Provider = Provider, Mounts = mounts ?? Array.Empty<BindMount>(),
            Network = network, Environment = environment ?? new(),
        });

    protected SandboxCommandResult Sh(SandboxInfo sandbox, string script, byte[]? stdin = null, TimeSpan? timeout = null,
        string? user = null, string? workingDirectory = null, Dictionary<string, string>? environment = null) =>
        Harness.Invoke(sandbox.Id, new SandboxCommand
        {
            Argv = new[] { "/bin/sh", "-c", script }, StandardInput = stdin, Timeout = timeout, User = user,
            WorkingDirectory = workingDirectory, Environment = environment ?? new(),
        });

    [SkippableFact]
    public void Lifecycle_sandbox_is_listed_while_it_exists_and_leaves_no_folder_after_removal()
    {
        var sandbox = NewSandbox();
        var listed = Harness.List().Single(s => s.Id == sandbox.Id);
        Assert.Equal(Provider.ToString(), listed.Provider);
        Assert.Equal(HarnessFixture.ImageName, listed.Image);
        Assert.True(Directory.Exists(Harness.StateFolder(sandbox.Id)));

        Harness.Remove(sandbox.Id);

        Assert.DoesNotContain(Harness.List(), s => s.Id == sandbox.Id);
        Assert.False(Directory.Exists(Harness.StateFolder(sandbox.Id)), "the state folder is gone");
    }

    [SkippableFact]
    public void Exit_code_and_separate_stdout_and_stderr_are_reported()
    {
        var sandbox = NewSandbox();
        var result = Sh(sandbox, "echo out; echo err >&2; exit 3");
        Assert.Equal(3, result.ExitCode);
        Assert.Null(result.Signal);
        Assert.False(result.TimedOut);
        Assert.Equal("out\n", result.StdOut);
        Assert.Equal("err\n", result.StdErr);
        Assert.True(result.Duration > TimeSpan.Zero);
        Assert.True(result.PeakMemoryBytes > 0, "peak RSS comes from the kernel's rusage");
        Harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void Stdin_reaches_the_command()
    {
        var sandbox = NewSandbox();
        var input = "line one\nline two\n" + new string('x', 200_000) + "\n"; // larger than a pipe buffer
        var result = Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "cat" }, StandardInput = Encoding.UTF8.GetBytes(input) });
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(input, result.StdOut);
        Harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void Environment_is_clean_plus_the_sandbox_and_command_variables()
    {
        var sandbox = NewSandbox(environment: new() { ["FROM_SANDBOX"] = "s", ["OVERRIDDEN"] = "sandbox" });
        var result = Sh(sandbox, "env | sort", environment: new() { ["FROM_COMMAND"] = "c", ["OVERRIDDEN"] = "command" });
        var variables = result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        Assert.Equal("s", variables["FROM_SANDBOX"]);
        Assert.Equal("c", variables["FROM_COMMAND"]);
        Assert.Equal("command", variables["OVERRIDDEN"]);
        Assert.Contains("/usr/bin", variables["PATH"]);
        Assert.Equal("/root", variables["HOME"]);
        // Only the clean base, our variables and what sh itself sets (PWD, SHLVL) may be there.
        var allowed = new[] { "PATH", "HOME", "TERM", "LANG", "FROM_SANDBOX", "FROM_COMMAND", "OVERRIDDEN", "PWD", "SHLVL", "_" };
        var unexpected = variables.Keys.Except(allowed).Except(ProviderVariables)
            .Where(name => IsolatesSystem || !(name.StartsWith("FAKE") || name.StartsWith("LD_"))).ToList();
        Assert.True(unexpected.Count == 0, $"unexpected variables: {string.Join(", ", unexpected)}");
        Harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void Working_directory_and_user_are_applied()
    {
        var sandbox = NewSandbox();
        Assert.Equal("/data/nested\n", Sh(sandbox, "pwd", workingDirectory: "/data/nested").StdOut);
        Assert.Equal("0\n", Sh(sandbox, "id -u").StdOut);
        Assert.Equal("1000 /home/tester\n", Sh(sandbox, "echo $(id -u) $HOME", user: "tester").StdOut);
        Assert.Equal("1000\n", Sh(sandbox, "id -u", user: "1000").StdOut);
        Harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void Writes_persist_from_one_command_to_the_next_and_stay_in_their_sandbox()
    {
        var first = NewSandbox();
        var second = NewSandbox();
        Assert.Equal(0, Sh(first, "echo kept > /root/note && mkdir -p /opt/new && echo x > /opt/new/f").ExitCode);

        Assert.Equal("kept\n", Sh(first, "cat /root/note").StdOut);
        Assert.Equal("1\n", Sh(second, "test -e /root/note || test -e /opt/new; echo $?").StdOut);
        Harness.Remove(first.Id);
        Harness.Remove(second.Id);
    }

    [SkippableFact]
    public void Image_stays_byte_identical_after_every_kind_of_change()
    {
        var image = Harness.ImageRootFs(HarnessFixture.ImageName);
        var before = TreeSnapshot.Take(image);
        var sandbox = NewSandbox();

        var result = Sh(sandbox, string.Join(" && ", new[]
        {
            "echo replaced > /data/file.txt",
            "echo appended >> /data/append.txt",
            "sed -i s/deep/DEEP/ /data/nested/deep.txt",
            "cp /data/script.sh /data/copied.sh",
            "cp /data/rename-me.txt /data/nested/copy-over.txt",
            "rm /data/delete-me.txt",
            "mv /data/rename-me.txt /data/renamed.txt",
            "chmod 600 /data/script.sh",
            "ln -sf /etc/passwd /data/link",
            "ln -s /data/nested /data/new-link",
            "rm -r /data/nested",
            "touch /bin/sh",
            "chown 1234:1234 /data/file.txt",
            "echo new > /etc/new-file",
        }));
        Assert.True(result.ExitCode == 0, result.StdErr);

        // The sandbox sees its changes...
        Assert.Equal("replaced\n", Sh(sandbox, "cat /data/file.txt").StdOut);
        Assert.Equal("first line\nappended\n", Sh(sandbox, "cat /data/append.txt").StdOut);
        Assert.Equal("600 1234\n", Sh(sandbox, "stat -c '%a' /data/script.sh; stat -c %u /data/file.txt | tr -d '\\n'; echo").StdOut.Replace("\n1234", " 1234"));
        Assert.Equal("/etc/passwd\n", Sh(sandbox, "readlink /data/link").StdOut);
        // ...the image does not, neither while the sandbox exists nor after it is removed.
        Assert.Empty(TreeSnapshot.Take(image).DifferencesFrom(before));
        Harness.Remove(sandbox.Id);
        Assert.Empty(TreeSnapshot.Take(image).DifferencesFrom(before));
    }

    [SkippableFact]
    public void Bound_host_folder_is_shared_and_survives_removal_of_the_sandbox()
    {
        using var host = new TemporaryFolder("bind");
        var shared = Path.Combine(host.Path, "shared");
        Directory.CreateDirectory(shared);
        File.WriteAllText(Path.Combine(shared, "from-host.txt"), "host data\n");
        Directory.CreateDirectory(Path.Combine(shared, "sub"));
        File.WriteAllText(Path.Combine(shared, "sub", "deep.txt"), "deep host data\n");
        var readOnly = Path.Combine(host.Path, "readonly");
        Directory.CreateDirectory(readOnly);
        File.WriteAllText(Path.Combine(readOnly, "keep.txt"), "read only\n");
        RunAsRoot.Command("chmod", "-R", "a+rwX", host.Path);

        if (!SupportsReadOnlyBinds)
        {
            var refused = Assert.Throws<SandboxException>(() => NewSandbox(mounts: new[] { BindMount.Parse($"{readOnly}:/mnt/ro", readOnly: true) }));
            Assert.Equal("NotSupportedByProvider", refused.ErrorId);
        }
        var sandbox = NewSandbox(mounts: SupportsReadOnlyBinds
            ? new[] { BindMount.Parse($"{shared}:/mnt/shared", readOnly: false), BindMount.Parse($"{readOnly}:/mnt/ro", readOnly: true) }
            : new[] { BindMount.Parse($"{shared}:/mnt/shared", readOnly: false) });
        Assert.Equal("host data\n", Sh(sandbox, "cat /mnt/shared/from-host.txt").StdOut);
        Assert.Equal(0, Sh(sandbox, "echo from sandbox > /mnt/shared/from-sandbox.txt").ExitCode);
        if (SupportsReadOnlyBinds) Assert.NotEqual(0, Sh(sandbox, "echo x > /mnt/ro/keep.txt").ExitCode);
        Assert.Equal("from sandbox\n", File.ReadAllText(Path.Combine(shared, "from-sandbox.txt")));

        Harness.Remove(sandbox.Id);

        Assert.Equal("host data\n", File.ReadAllText(Path.Combine(shared, "from-host.txt")));
        Assert.Equal("deep host data\n", File.ReadAllText(Path.Combine(shared, "sub", "deep.txt")));
        Assert.Equal("from sandbox\n", File.ReadAllText(Path.Combine(shared, "from-sandbox.txt")));
        Assert.Equal("read only\n", File.ReadAllText(Path.Combine(readOnly, "keep.txt")));
    }

    [SkippableFact]
    public void Timeout_kills_the_command_and_its_children()
    {
        var sandbox = NewSandbox();
        var seconds = Random.Shared.Next(1000, 9999).ToString(); // unique, so other tests' sleeps don't count
        var result = Sh(sandbox, $"sleep {seconds} & sleep {seconds}; echo never", timeout: TimeSpan.FromSeconds(1));

        Assert.True(result.TimedOut);
        Assert.Equal("SIGKILL", result.Signal);
        Assert.Null(result.ExitCode);
        Assert.DoesNotContain("never", result.StdOut);
        Assert.True(result.Duration < TimeSpan.FromSeconds(30));
        Assert.Empty(HostProcesses.StillRunningAfter(TimeSpan.FromSeconds(5), "sleep", seconds));
        // The sandbox is still usable afterwards, at once (no killed backend may still hold it).
        var next = Sh(sandbox, "true");
        Assert.True(next.ExitCode == 0, $"the next command exited {next.ExitCode}: {next.StdErr}");
        Harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void A_missing_command_is_a_command_error_not_a_setup_error()
    {
        var sandbox = NewSandbox();
        var byPath = Assert.Throws<SandboxException>(() =>
            Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "/no/such/program" } }));
        Assert.Equal("CommandNotFound", byPath.ErrorId);
        var byName = Assert.Throws<SandboxException>(() =>
            Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "no-such-program" } }));
        Assert.Equal("CommandNotFound", byName.ErrorId);
        // A command that runs, prints and exits 1 is neither, even if its stderr looks like bwrap's.
        var lookalike = Sh(sandbox, "echo output; echo 'bwrap: execvp lookalike: No such file or directory' >&2; exit 1");
        Assert.Equal(1, lookalike.ExitCode);
        Assert.Equal("output\n", lookalike.StdOut);
        Harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void A_broken_sandbox_is_a_setup_error()
    {
        using var host = new TemporaryFolder("vanishing");
        var source = Path.Combine(host.Path, "source");
        Directory.CreateDirectory(source);
        var sandbox = NewSandbox(mounts: new[] { BindMount.Parse($"{source}:/mnt/gone", readOnly: false) });
        Directory.Delete(source); // the bind source vanishes after the sandbox was made

        var error = Assert.Throws<SandboxException>(() => Sh(sandbox, "true"));
        Assert.Equal("SandboxSetupFailed", error.ErrorId);
        Harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void Network_none_has_only_loopback_and_host_shares_the_hosts()
    {
        var hostInterfaces = File.ReadAllLines("/proc/net/dev").Skip(2).Count();
        if (!IsolatesSystem)
        {
            // No namespaces, no network isolation: an explicit None is refused rather than pretended,
            // and the provider's default is the host's network, which the sandbox says it has.
            var refused = Assert.Throws<SandboxException>(() => NewSandbox(network: NetworkMode.None));
            Assert.Equal("NetworkIsolationUnsupported", refused.ErrorId);
            Assert.Contains("-Network Host", refused.Message);
            var open = NewSandbox();
            Assert.Equal(NetworkMode.Host, Harness.List().Single(s => s.Id == open.Id).Network);
            Assert.Equal(hostInterfaces.ToString(), Sh(open, "tail -n +3 /proc/net/dev | wc -l").StdOut.Trim());
            Harness.Remove(open.Id);
            return;
        }
        var isolated = NewSandbox(network: NetworkMode.None);
        var interfaces = Sh(isolated, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '").StdOut.Trim();
        Assert.Equal("lo", interfaces);
        Harness.Remove(isolated.Id);

        var shared = NewSandbox(network: NetworkMode.Host);
        Assert.Equal(hostInterfaces.ToString(), Sh(shared, "tail -n +3 /proc/net/dev | wc -l").StdOut.Trim());
        Harness.Remove(shared.Id);
    }

    [SkippableFact]
    public void Private_dev_proc_and_tmp()
    {
        var sandbox = NewSandbox();
        if (!IsolatesSystem)
        {
            // The host's /proc is there to see (documented: not a boundary); /tmp is the sandbox's own copy.
            var testProcess = File.ReadAllText($"/proc/{Environment.ProcessId}/comm").Trim();
            Assert.Contains(testProcess, Sh(sandbox, "cat /proc/[0-9]*/comm").StdOut);
            Assert.Equal(0, Sh(sandbox, "echo x > /tmp/t && test -f /tmp/t").ExitCode);
            Assert.False(File.Exists("/tmp/t") && File.ReadAllText("/tmp/t") == "x\n", "the sandbox's /tmp is not the host's");
            Harness.Remove(sandbox.Id);
            return;
        }
        var devices = Sh(sandbox, "ls /dev").StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var node in new[] { "null", "zero", "full", "random", "urandom", "tty" }) Assert.Contains(node, devices);
        Assert.DoesNotContain("sda", devices);
        Assert.DoesNotContain("vda", devices);
        // A private pid namespace: the host's processes (this test's own among them) are not there.
        var visible = Sh(sandbox, "cat /proc/[0-9]*/comm").StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var self = File.ReadAllText($"/proc/{Environment.ProcessId}/comm").Trim();
        Assert.DoesNotContain(self, visible);
        Assert.True(visible.Length <= 5, $"only the sandbox's processes are visible, saw {string.Join(",", visible)}");
        // /tmp is the sandbox's own (whether it persists between commands is a provider's choice:
        // Bubblewrap keeps it in the sandbox's layer, see ScratchFolderTests), never the host's.
        var marker = $"sandbox-private-tmp-{Guid.NewGuid():N}";
        Assert.Equal(0, Sh(sandbox, $"echo x > /tmp/{marker} && test -f /tmp/{marker}").ExitCode);
        Assert.False(File.Exists(Path.Combine("/tmp", marker)), "the sandbox's /tmp is not the host's");
        Harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void Cpu_time_and_peak_memory_are_the_commands_own()
    {
        var sandbox = NewSandbox();
        var busy = Sh(sandbox, "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done");
        Assert.True(busy.UserCpu + busy.SystemCpu >= TimeSpan.FromMilliseconds(100),
            $"the loop's CPU time is counted, saw {busy.UserCpu.TotalMilliseconds} ms user + {busy.SystemCpu.TotalMilliseconds} ms system");

        var big = Sh(sandbox, "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null");
        Assert.True(big.PeakMemoryBytes >= 64L << 20, $"dd's 64 MiB buffer is counted, saw {big.PeakMemoryBytes >> 20} MiB");

        // The engine's own process (a PowerShell host: 100 MB and more) must not show up as the command's.
        var small = Sh(sandbox, "true");
        Assert.True(small.PeakMemoryBytes < 40L << 20, $"/bin/true's peak is its own and its backend's, saw {small.PeakMemoryBytes >> 20} MiB");
        Harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void Stat_reports_commands_cpu_memory_and_the_sandbox_layer()
    {
        var sandbox = NewSandbox();
        Sh(sandbox, "dd if=/dev/zero of=/root/blob bs=1024 count=1024 2>/dev/null");
        Sh(sandbox, "rm /data/delete-me.txt && echo changed > /data/file.txt");
        Sh(sandbox, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done");

        var stat = Harness.Stat(sandbox.Id);
        Assert.Equal(3, stat.CommandsRun);
        Assert.Equal(Provider.ToString(), stat.Provider);
        Assert.Equal(HarnessFixture.ImageName, stat.Image);
        Assert.True(stat.DiskBytes >= 1024 * 1024, $"the 1 MiB blob is in the layer, saw {stat.DiskBytes}");
        Assert.True(stat.UserCpu + stat.SystemCpu > TimeSpan.Zero);
        Assert.True(stat.PeakMemoryBytes > 0);
        Assert.True(stat.FilesAdded >= 1);
        Assert.True(stat.FilesModified >= 1);
        Assert.True(stat.FilesDeleted >= 1);
        Harness.Remove(sandbox.Id);
    }
}
