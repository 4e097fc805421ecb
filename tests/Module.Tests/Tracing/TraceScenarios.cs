using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Tracing;

/// <summary>
/// -Trace against the real providers: one script's reads, writes, rename, delete, chmod, exec and a
/// refused write, each found in the trace with its operation, in-sandbox path and errno; and a
/// command forking 100 children whose exit code, stdout and stderr are the same traced and not.
/// </summary>
public abstract class TraceScenarios<TFixture> : IClassFixture<TFixture> where TFixture : HarnessFixture
{
    private readonly TFixture _fixture;

    protected TraceScenarios(TFixture fixture) => _fixture = fixture;

    protected abstract ProviderName Provider { get; }

    /// <summary>Whether the provider has -ReadOnlyRoot (FakeChroot cannot make a path read-only).</summary>
    protected virtual bool SupportsReadOnlyRoot => true;

    /// <summary>The errno a write to /proc/sys gets: EROFS where /proc/sys is mounted read-only, EACCES for a host user.</summary>
    protected abstract string[] RefusedWriteErrnos { get; }

    protected ISandboxHarness Harness
    {
        get
        {
            Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
            return _fixture.Harness;
        }
    }

    private SandboxInfo NewSandbox() =>
        Harness.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = Provider });

    private SandboxCommandResult Run(SandboxInfo sandbox, string script, bool trace) =>
        Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "/bin/sh", "-c", script }, Trace = trace });

    private const string Script =
        "cat /etc/passwd > /dev/null\n" +
        "echo x > /tmp/a\n" +
        "mv /tmp/a /tmp/b\n" +
        "rm /data/file.txt\n" +
        "chmod 600 /tmp/b\n" +
        "/bin/true traced-word\n" +
        "echo y > /proc/sys/kernel/hostname\n" +
        "exit 5\n";

    [SkippableFact]
    public void A_scripts_file_accesses_exec_and_refused_write_are_in_the_trace_with_in_sandbox_paths()
    {
        var sandbox = NewSandbox();
        try
        {
            var result = Run(sandbox, Script, trace: true);
            Assert.Equal(5, result.ExitCode);
            var trace = Assert.IsType<SandboxTrace>(result.Trace);
            var files = trace.Files;
            string Shown() => string.Join("\n", files.Select(f => $"{f.Pid} {f}"));

            Assert.True(files.Any(f => f.Operation == TraceOperation.Read && f.Path == "/etc/passwd" && f.Errno is null), Shown());
            Assert.True(files.Any(f => f.Operation == TraceOperation.Create && f.Path == "/tmp/a" && f.Errno is null), Shown());
            Assert.True(files.Any(f => f.Operation == TraceOperation.Rename && f.Path == "/tmp/a" && f.Target == "/tmp/b" && f.Errno is null), Shown());
            Assert.True(files.Any(f => f.Operation == TraceOperation.Delete && f.Path == "/data/file.txt" && f.Errno is null), Shown());
            Assert.True(files.Any(f => f.Operation == TraceOperation.Chmod && f.Path == "/tmp/b" && f.Errno is null), Shown());
            Assert.True(files.Any(f => f.Operation == TraceOperation.Exec && f.Path == "/bin/true" && f.Errno is null), Shown());
            var refused = Assert.Single(files, f => f.Path == "/proc/sys/kernel/hostname");
            Assert.True(refused.Denied, Shown());
            Assert.Contains(refused.Errno, RefusedWriteErrnos);
            Assert.Equal(1, trace.Summary.Denied);

            // The exec with its argv, its process a child of the command's; the backend's own setup is not there.
            var command = trace.Processes[0];
            Assert.Null(command.ParentPid);
            Assert.Equal(new[] { "/bin/sh", "-c", Script }, command.Argv);
            Assert.Equal(5, command.ExitCode);
            var child = Assert.Single(trace.Processes, p => p.Argv.SequenceEqual(new[] { "/bin/true", "traced-word" }));
            Assert.Equal(command.Pid, child.ParentPid);
            Assert.Equal(0, child.ExitCode);
            Assert.Equal(child.Pid, files.Single(f => f.Operation == TraceOperation.Exec && f.Path == "/bin/true").Pid);
            Assert.DoesNotContain(files, f => f.Path.Contains("bwrap") || f.Path.Contains("nspawn") || f.Path.Contains("/sandboxes/"));
            Assert.False(trace.Truncated);
        }
        finally { Harness.Remove(sandbox.Id); }
    }

    [SkippableFact]
    public void Under_a_read_only_root_the_refused_write_and_the_allowed_one_are_both_in_the_trace()
    {
        var options = new SandboxCreateOptions
        {
            Image = HarnessFixture.ImageName, Provider = Provider, ReadOnlyRoot = true, WritablePaths = new[] { "/build" },
        };
        if (!SupportsReadOnlyRoot)
        {
            // FakeChroot cannot fail writes with EROFS: it says so instead of tracing a root that is not read-only.
            Assert.Equal("ReadOnlyRootUnsupported", Assert.Throws<SandboxException>(() => Harness.Create(options)).ErrorId);
            return;
        }
        var sandbox = Harness.Create(options);
        try
        {
            var result = Run(sandbox, "touch /etc/x; echo etc $?; touch /build/x; echo build $?", trace: true);
            Assert.Equal("etc 1\nbuild 0\n", result.StdOut);
            var files = result.Trace!.Files;
            string Shown() => string.Join("\n", files.Select(f => f.ToString()));
            var refused = Assert.Single(files, f => f.Path == "/etc/x");
            Assert.Equal("EROFS", refused.Errno);
            Assert.True(refused.Denied, Shown());
            var allowed = Assert.Single(files, f => f.Path == "/build/x");
            Assert.Equal(TraceOperation.Create, allowed.Operation);
            Assert.Null(allowed.Errno);
            Assert.False(allowed.Denied);
            Assert.Equal(1, result.Trace.Summary.Denied);
        }
        finally { Harness.Remove(sandbox.Id); }
    }

    [SkippableFact]
    public void A_command_forking_100_children_has_the_same_exit_code_stdout_and_stderr_traced_and_not()
    {
        const string forks =
            "i=0; while [ $i -lt 100 ]; do (echo out $i; echo err $i >&2; exit $((i % 7))) ; echo rc $?; i=$((i+1)); done; " +
            "sh -c 'kill -TERM $$'; echo killed $?; exit 42";
        var sandbox = NewSandbox();
        try
        {
            var plain = Run(sandbox, forks, trace: false);
            var traced = Run(sandbox, forks, trace: true);
            Assert.Equal(42, plain.ExitCode);
            Assert.Equal(plain.ExitCode, traced.ExitCode);
            Assert.Equal(plain.Signal, traced.Signal);
            Assert.Equal(plain.StdOut, traced.StdOut);
            Assert.Equal(plain.StdErr, traced.StdErr);
            Assert.Contains("killed 143", traced.StdOut);
            Assert.Null(plain.Trace);
            Assert.True(traced.Trace!.Processes.Count >= 101, $"{traced.Trace.Processes.Count} processes traced");
            Assert.Equal("SIGTERM", traced.Trace.Processes.Single(p => p.Argv.Count > 2 && p.Argv[2] == "kill -TERM $$").Signal);
        }
        finally { Harness.Remove(sandbox.Id); }
    }

    [SkippableFact]
    public void A_command_killed_by_a_signal_is_reported_as_killed_when_traced()
    {
        var sandbox = NewSandbox();
        try
        {
            // With Bubblewrap the command is PID 1 and ignores its own signals: a child is killed instead.
            var result = Run(sandbox, "sh -c 'kill -KILL $$'; echo after $?", trace: true);
            Assert.Equal(0, result.ExitCode);
            Assert.Equal("after 137\n", result.StdOut);
            Assert.Equal("SIGKILL", Assert.Single(result.Trace!.Processes, p => p.Signal is not null).Signal);
        }
        finally { Harness.Remove(sandbox.Id); }
    }
}

[Trait("Area", "Tracing")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "Root")]
public sealed class BubblewrapTraceAsRoot(RootHarnessFixture fixture) : TraceScenarios<RootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
    protected override string[] RefusedWriteErrnos => new[] { "EROFS" };
}

[Trait("Area", "Tracing")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "NonRoot")]
public sealed class BubblewrapTraceAsUnprivilegedUser(UserHarnessFixture fixture) : TraceScenarios<UserHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
    protected override string[] RefusedWriteErrnos => new[] { "EROFS" };
}

[Trait("Area", "Tracing")]
[Trait("Provider", "Nspawn")]
[Trait("User", "Root")]
public sealed class NspawnTraceAsRoot(RootHarnessFixture fixture) : TraceScenarios<RootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Nspawn;
    protected override string[] RefusedWriteErrnos => new[] { "EROFS" };
}

[Trait("Area", "Tracing")]
[Trait("Provider", "FakeChroot")]
[Trait("User", "NonRoot")]
public sealed class FakeChrootTraceAsUnprivilegedUser(FakeChrootHarnessFixture fixture) : TraceScenarios<FakeChrootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.FakeChroot;
    protected override bool SupportsReadOnlyRoot => false;

    // The host's /proc: a host user may not write it.
    protected override string[] RefusedWriteErrnos => new[] { "EACCES" };
}
