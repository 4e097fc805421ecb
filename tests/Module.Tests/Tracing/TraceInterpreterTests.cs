using Sandbox.Tracing;
using Xunit;
using static Sandbox.Tests.Tracing.StraceLineParserTests;

namespace Sandbox.Tests.Tracing;

/// <summary>From parsed strace lines to the command's trace: where it starts, whose events count, and the in-sandbox paths.</summary>
[Trait("Area", "Tracing")]
[Trait("Needs", "Nothing")]
public sealed class TraceInterpreterTests
{
    private static readonly string[] Command = { "sh", "-c", "work" };

    private static SandboxTrace Interpret(string? hostRoot, int? commandPid, string workingFolder, params string[] lines)
    {
        var collector = new TraceCollector();
        foreach (var line in lines) collector.Add(line);
        return TraceInterpreter.Build(collector.Records, collector.Dropped, Command, commandPid, new TracePaths(hostRoot), workingFolder);
    }

    private static string Exec(int pid, string path, string[] argv, string result = "0") =>
        $"{pid} execve({Hex(path)}, [{string.Join(", ", argv.Select(Hex))}], 0x1 /* 2 vars */) = {result}";

    [Fact]
    public void The_backends_own_setup_is_left_out_and_the_trace_starts_at_the_commands_exec()
    {
        var trace = Interpret(null, 1, "/",
            Exec(100, "/usr/bin/bwrap", new[] { "bwrap", "--as-pid-1" }),
            $"100 openat(-100, {Hex("/etc/ld.so.cache")}, 0x80000) = 3",
            "100 clone(child_stack=NULL, flags=0x20020011) = 101",
            Exec(101, "/usr/local/bin/sh", Command, "-1 ENOENT (No such file or directory)"),
            Exec(101, "/bin/sh", Command),
            $"101 openat(-100, {Hex("/etc/passwd")}, 0) = 3",
            $"100 openat(-100, {Hex("/backend-late")}, 0) = 3",
            "101 +++ exited with 4 +++");
        Assert.Equal(new[] { (TraceOperation.Exec, "/bin/sh"), (TraceOperation.Read, "/etc/passwd") },
            trace.Files.Select(f => (f.Operation, f.Path)));
        var command = Assert.Single(trace.Processes);
        Assert.Equal(1, command.Pid);
        Assert.Equal(4, command.ExitCode);
        Assert.Equal(Command, command.Argv);
    }

    [Fact]
    public void Children_are_known_by_the_pid_the_command_saw_even_when_their_lines_come_before_the_clone_returns()
    {
        var trace = Interpret(null, 1, "/",
            Exec(200, "/bin/sh", Command),
            "200 vfork( <unfinished ...>",
            Exec(201, "/bin/true", new[] { "/bin/true" }),
            "200 <... vfork resumed>) = 7 /* 201 in strace's PID NS */",
            "201 +++ exited with 0 +++",
            "200 clone3({flags=0x3d0f00, exit_signal=0} => {parent_tid=[2]}, 88) = 8 /* 202 in strace's PID NS */",
            $"202 openat(-100, {Hex("/thread-file")}, 0) = 3",
            "200 +++ killed by SIGKILL +++");
        var child = Assert.Single(trace.Processes, p => p.Pid == 7);
        Assert.Equal(1, child.ParentPid);
        Assert.Equal(new[] { "/bin/true" }, child.Argv);
        Assert.Equal(0, child.ExitCode);
        Assert.Equal("SIGKILL", trace.Processes.Single(p => p.Pid == 1).Signal);
        // A thread (CLONE_THREAD) is its process, not a new one.
        Assert.Equal(2, trace.Processes.Count);
        Assert.Equal(1, trace.Files.Single(f => f.Path == "/thread-file").Pid);
    }

    [Fact]
    public void Operations_come_from_the_call_and_its_flags_and_denials_from_the_errno()
    {
        var trace = Interpret(null, 1, "/work",
            Exec(300, "/bin/sh", Command),
            $"300 openat(-100, {Hex("a")}, 0x241, 0666) = 3",
            $"300 openat(-100, {Hex("/etc/x")}, 0x241, 0666) = -1 EROFS (Read-only file system)",
            $"300 openat(-100, {Hex("/etc/y")}, 0x1) = -1 EACCES (Permission denied)",
            $"300 renameat2(-100, {Hex("a")}, -100, {Hex("../b")}, 0) = 0",
            $"300 unlinkat(-100, {Hex("/d")}, 0x200) = 0",
            $"300 unlinkat(-100, {Hex("/f")}, 0) = -1 ENOENT (No such file or directory)",
            $"300 fchmodat(-100, {Hex("/b")}, 0600) = 0",
            $"300 symlinkat({Hex("/etc/passwd")}, -100, {Hex("/l")}) = 0",
            $"300 chdir({Hex("/sub")}) = 0",
            $"300 mkdir({Hex("n")}, 0777) = 0",
            $"300 openat(3, {Hex("rel")}, 0) = 4");
        Assert.Equal(new[]
        {
            (TraceOperation.Exec, "/bin/sh", (string?)null, false),
            (TraceOperation.Create, "/work/a", null, false),
            (TraceOperation.Create, "/etc/x", "EROFS", true),
            (TraceOperation.Write, "/etc/y", "EACCES", true),
            (TraceOperation.Rename, "/work/a", null, false),
            (TraceOperation.Rmdir, "/d", null, false),
            (TraceOperation.Delete, "/f", "ENOENT", false),
            (TraceOperation.Chmod, "/b", null, false),
            (TraceOperation.Symlink, "/l", null, false),
            (TraceOperation.Chdir, "/sub", null, false),
            (TraceOperation.Mkdir, "/sub/n", null, false),
            (TraceOperation.Read, "rel", null, false), // relative to a descriptor: left as named
        }, trace.Files.Select(f => (f.Operation, f.Path, f.Errno, f.Denied)));
        Assert.Equal("/b", trace.Files[4].Target);
        Assert.Equal(2, trace.Summary.Denied);
    }

    [Fact]
    public void FakeChroots_host_paths_under_the_copy_are_mapped_back_and_others_kept()
    {
        const string copy = "/home/u/store/sandboxes/x/root";
        var trace = Interpret(copy, null, copy + "/",
            Exec(400, copy + "/bin/sh", Command),
            $"400 openat(-100, {Hex(copy + "/etc/passwd")}, 0) = 3",
            $"400 openat(-100, {Hex("/proc/self/status")}, 0) = 3",
            $"400 openat(-100, {Hex(copy + "/../../../../etc/shadow")}, 0) = 3",
            $"400 openat(-100, {Hex("rel")}, 0) = 3",
            $"400 openat(-100, {Hex(copy + "x/y")}, 0) = 3");
        Assert.Equal(new[] { "/bin/sh", "/etc/passwd", "/proc/self/status", "/home/u/etc/shadow" /* outside the copy: shown as the host path it is */, "/rel", copy + "x/y" },
            trace.Files.Select(f => f.Path));
        Assert.Equal("host", trace.PidNamespace);
        Assert.Equal(400, trace.Processes.Single().Pid);
    }

    [Fact]
    public void Connects_give_address_port_and_result()
    {
        var trace = Interpret(null, 1, "/",
            Exec(500, "/bin/sh", Command),
            "500 connect(3, {sa_family=0x2, sin_port=\"\\x00\\x50\", sin_addr=\"\\x0a\\x00\\x00\\x01\"}, 16) = -1 ECONNREFUSED (Connection refused)",
            "500 connect(4, {sa_family=0xa, sin6_port=\"\\x01\\xbb\", sin6_flowinfo=\"\\x00\\x00\\x00\\x00\", sin6_addr=\"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01\", sin6_scope_id=0}, 28) = 0",
            $"500 connect(5, {{sa_family=0x1, sun_path={Hex("/run/x\" sin_port=\"")}}}, 110) = -1 ENOENT (No such file or directory)");
        Assert.Equal(new[] { "10.0.0.1:80 ECONNREFUSED", "::1:443 connected", "/run/x\" sin_port=\" ENOENT" }, trace.Connects.Select(c => c.ToString()));
    }

    [Fact]
    public void Without_the_commands_exec_the_trace_is_empty_not_the_backends()
    {
        var trace = Interpret(null, 1, "/", Exec(600, "/usr/bin/bwrap", new[] { "bwrap" }), $"600 openat(-100, {Hex("/x")}, 0) = 3");
        Assert.Empty(trace.Files);
        Assert.Empty(trace.Processes);
    }

    [Theory]
    [InlineData("/a//b/./c/../d", "/a/b/d")]
    [InlineData("/../../etc", "/etc")]
    [InlineData("/", "/")]
    public void Paths_are_folded_lexically_and_never_climb_above_the_root(string path, string folded)
    {
        Assert.Equal(folded, TracePaths.Normalize(path));
    }
}
