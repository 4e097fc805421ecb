using Sandbox.Providers;
using Xunit;

namespace Sandbox.Tests.FakeChroot;

/// <summary>
/// Which FakeChroot commands start with no chroot in front, and the file they start: execvp's
/// search as libfakechroot maps it, resolved beneath the copy. Everything libfakechroot's execve
/// treats specially is left to chroot (null). A real folder tree; no fakechroot, no sandbox.
/// </summary>
[Trait("Provider", "FakeChroot")]
public sealed class FakeChrootDirectStartTests : IDisposable
{
    private const string SearchPath = "/usr/local/bin:/usr/bin:/bin";
    private readonly string _copy = Directory.CreateTempSubdirectory("direct-start-").FullName;

    public FakeChrootDirectStartTests()
    {
        Directory.CreateDirectory(Path.Combine(_copy, "usr/bin"));
        Directory.CreateDirectory(Path.Combine(_copy, "usr/local/bin"));
        File.CreateSymbolicLink(Path.Combine(_copy, "bin"), "usr/bin");
        Program("usr/bin/prog", File.ReadAllBytes("/bin/true"), "755");
        Program("usr/bin/script", "#!/bin/sh\necho hi\n"u8.ToArray(), "755");
        Program("usr/bin/data", "plain text\n"u8.ToArray(), "755");
        Program("usr/bin/unexecutable", File.ReadAllBytes("/bin/true"), "644");
        Program("usr/bin/env", File.ReadAllBytes("/bin/true"), "755");
    }

    public void Dispose() => Directory.Delete(_copy, recursive: true);

    private void Program(string relative, byte[] bytes, string mode)
    {
        var path = Path.Combine(_copy, relative);
        File.WriteAllBytes(path, bytes);
        File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32(mode, 8));
    }

    private string? Start(string name, string? workingDirectory = null, string path = SearchPath, string? elfLoader = null)
    {
        var environment = new Dictionary<string, string> { ["PATH"] = path };
        if (elfLoader is not null) environment["FAKECHROOT_ELFLOADER"] = elfLoader;
        return FakeChrootDirectStart.ProgramFile(_copy, new[] { name, "--flag" }, workingDirectory, environment);
    }

    private string InCopy(string path) => _copy + path;

    /// <summary>/bin/true with its bytes changed where <paramref name="from"/> stands (same length).</summary>
    private static byte[] Patched(string from, string to)
    {
        var bytes = File.ReadAllBytes("/bin/true");
        var at = bytes.AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(from));
        Assert.True(at > 0 && from.Length == to.Length);
        System.Text.Encoding.ASCII.GetBytes(to).CopyTo(bytes, at);
        return bytes;
    }

    [Fact]
    public void An_ELF_program_by_path_or_found_in_PATH_starts_directly_by_the_path_libfakechroot_would_execute()
    {
        Assert.Equal(InCopy("/usr/bin/prog"), Start("/usr/bin/prog"));
        Assert.Equal(InCopy("/bin/prog"), Start("/bin/prog"));
        Assert.Equal(InCopy("/usr/bin/prog"), Start("prog"));
        Assert.Equal(InCopy("/usr/bin/prog"), Start("/usr/local/../bin/prog"));
        Assert.Equal(InCopy("/usr/bin/prog"), Start("//usr/./bin//prog"));
        Assert.Null(Start("/"));
    }

    [Fact]
    public void A_static_ELF_program_starts_directly_too()
    {
        Program("usr/bin/static", File.ReadAllBytes("/bin/busybox"), "755");
        Assert.Equal("", FakeChrootDirectStart.Interpreter(File.OpenHandle(Path.Combine(_copy, "usr/bin/static"))));
        Assert.Equal(InCopy("/usr/bin/static"), Start("static"));
    }

    [Fact]
    public void Scripts_other_files_other_machines_programs_and_what_is_missing_or_not_executable_go_through_chroot()
    {
        Program("usr/bin/arm", File.ReadAllBytes("/bin/true").Select((b, i) => i == 18 ? (byte)183 /* EM_AARCH64 */ : b).ToArray(), "755");
        Assert.Null(Start("/usr/bin/script"));
        Assert.Null(Start("script"));
        Assert.Null(Start("/usr/bin/data"));
        Assert.Null(Start("/usr/bin/arm"));
        Assert.Null(Start("/usr/bin/unexecutable"));
        Assert.Null(Start("unexecutable"));
        Assert.Null(Start("/usr/bin/missing"));
        Assert.Null(Start("missing"));
        Assert.Null(Start("/usr/bin"));
        Assert.Null(Start("prog", elfLoader: "/lib64/ld-linux-x86-64.so.2"));
    }

    /// <summary>execvp passes over a folder whose file its exec refuses with EACCES or ENOENT (here: an interpreter the host lacks).</summary>
    [Fact]
    public void Folders_whose_file_no_exec_would_start_are_passed_over_as_execvp_does()
    {
        Program("usr/local/bin/prog", File.ReadAllBytes("/bin/true"), "644");
        Assert.Equal(InCopy("/usr/bin/prog"), Start("prog"));
        Program("usr/local/bin/nointerp", Patched("/lib64/ld-linux", "/nob64/ld-linux"), "755");
        Program("usr/bin/nointerp", File.ReadAllBytes("/bin/true"), "755");
        Assert.Equal(InCopy("/usr/bin/nointerp"), Start("nointerp"));
        Assert.Null(Start("/usr/local/bin/nointerp"));
        Directory.CreateDirectory(Path.Combine(_copy, "usr/local/bin/folder"));
        Program("usr/bin/folder", File.ReadAllBytes("/bin/true"), "755");
        Assert.Equal(InCopy("/usr/bin/folder"), Start("folder"));
    }

    [Fact]
    public void Substituted_commands_host_folders_working_folders_and_relative_PATH_entries_go_through_chroot()
    {
        Assert.Null(Start("env"));
        Assert.Null(Start("/usr/bin/env"));
        Assert.Null(Start("/usr/bin/../../usr/bin/env"));
        Assert.Null(Start("/proc/self/exe"));
        Assert.Null(Start("/usr/../proc/self/exe"));
        Assert.Null(Start("/dev/null"));
        Assert.Null(Start("prog", workingDirectory: "/usr"));
        Assert.Null(Start("prog", path: "/usr/bin::/bin"));
        Assert.Null(Start("prog", path: "bin:/usr/bin"));
        Assert.Null(Start("./prog"));
        Assert.Equal(InCopy("/usr/bin/prog"), Start("prog", workingDirectory: "/"));
    }

    /// <summary>
    /// A link that leaves the copy (absolute: the kernel resolves it on the host under chroot's
    /// route too, which is what a bind is) is chroot's to follow; the engine never opens a host file
    /// for it. A path climbing out by its text stays inside, as libfakechroot's dedotdot keeps it.
    /// </summary>
    [Fact]
    public void Links_out_of_the_copy_go_through_chroot_and_dot_dots_stay_inside()
    {
        File.CreateSymbolicLink(Path.Combine(_copy, "usr/local/bin/hostdash"), "/usr/bin/dash");
        File.CreateSymbolicLink(Path.Combine(_copy, "usr/local/bin/absolute"), "/usr/bin/prog");
        File.CreateSymbolicLink(Path.Combine(_copy, "usr/local/bin/up"), "../../../../../../usr/bin/dash");
        File.CreateSymbolicLink(Path.Combine(_copy, "usr/local/bin/relative"), "../../bin/prog");
        Assert.True(File.Exists("/usr/bin/dash"));

        Assert.Null(Start("hostdash"));
        Assert.Null(Start("absolute"));
        Assert.Null(Start("up"));
        Assert.Equal(InCopy("/usr/local/bin/relative"), Start("relative"));
        Assert.Null(Start("/../../../usr/bin/dash"));
        Assert.Equal(InCopy("/usr/bin/prog"), Start("/../../usr/bin/prog"));
    }

    [Fact]
    public void A_FIFO_in_the_way_is_never_opened()
    {
        var fifo = Path.Combine(_copy, "usr/local/bin/prog");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", new[] { "-m", "755", fifo })!) mkfifo.WaitForExit();
        Assert.True(Sandbox.Native.FileStatus.Of(fifo) is { IsRegularFile: false, IsDirectory: false });
        Assert.Equal(InCopy("/usr/bin/prog"), Start("prog"));
    }

    [Theory]
    [InlineData("ls", SearchPath, new[] { "/usr/local/bin/ls", "/usr/bin/ls", "/bin/ls" })]
    [InlineData("/opt/x", SearchPath, new[] { "/opt/x" })]
    [InlineData("/opt/../x", SearchPath, new[] { "/x" })]
    [InlineData("ls", "/usr/bin/", new[] { "/usr/bin/ls" })]
    public void Candidates_are_execvps_in_order(string name, string path, string[] expected) =>
        Assert.Equal(expected, FakeChrootDirectStart.Candidates(name, path));
}
