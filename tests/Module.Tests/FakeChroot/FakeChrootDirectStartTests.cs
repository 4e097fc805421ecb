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

    private string? Start(string name, string? workingDirectory = null, string path = SearchPath) =>
        FakeChrootDirectStart.ProgramFile(_copy, new[] { name, "--flag" }, workingDirectory, path);

    [Fact]
    public void An_ELF_program_by_path_or_found_in_PATH_starts_directly_as_its_host_file_in_the_copy()
    {
        Assert.Equal(Path.Combine(_copy, "usr/bin/prog"), Start("/usr/bin/prog"));
        Assert.Equal(Path.Combine(_copy, "usr/bin/prog"), Start("/bin/prog"));
        Assert.Equal(Path.Combine(_copy, "usr/bin/prog"), Start("prog"));
        Assert.Equal(Path.Combine(_copy, "usr/bin/prog"), Start("/usr/local/../bin/prog"));
        Assert.Null(Start("/"));
    }

    [Fact]
    public void Scripts_other_files_and_what_is_missing_or_not_executable_go_through_chroot()
    {
        Assert.Null(Start("/usr/bin/script"));
        Assert.Null(Start("script"));
        Assert.Null(Start("/usr/bin/data"));
        Assert.Null(Start("/usr/bin/unexecutable"));
        Assert.Null(Start("/usr/bin/missing"));
        Assert.Null(Start("missing"));
        Assert.Null(Start("/usr/bin"));
    }

    /// <summary>The first PATH folder that has the name decides, as execvp's: one that is not executable leaves all to chroot.</summary>
    [Fact]
    public void The_first_folder_of_PATH_with_the_name_decides()
    {
        Program("usr/local/bin/prog", File.ReadAllBytes("/bin/true"), "644");
        Assert.Null(Start("prog"));
        Assert.Equal(Path.Combine(_copy, "usr/bin/prog"), Start("prog", path: "/usr/bin:/usr/local/bin"));
    }

    [Fact]
    public void Substituted_commands_host_folders_working_folders_and_relative_PATH_entries_go_through_chroot()
    {
        Assert.Null(Start("env"));
        Assert.Null(Start("/usr/bin/env"));
        Assert.Null(Start("/proc/self/exe"));
        Assert.Null(Start("/dev/null"));
        Assert.Null(Start("prog", workingDirectory: "/usr"));
        Assert.Null(Start("prog", path: "/usr/bin::/bin"));
        Assert.Null(Start("prog", path: "bin:/usr/bin"));
        Assert.Null(Start("./prog"));
        Assert.Equal(Path.Combine(_copy, "usr/bin/prog"), Start("prog", workingDirectory: "/"));
    }

    /// <summary>An absolute link or a path climbing out of the copy resolves inside it, as in a real chroot, never to the host's file.</summary>
    [Fact]
    public void Links_and_dot_dots_never_lead_to_a_host_file()
    {
        File.CreateSymbolicLink(Path.Combine(_copy, "usr/local/bin/hostdash"), "/usr/bin/dash");
        File.CreateSymbolicLink(Path.Combine(_copy, "usr/local/bin/inside"), "/usr/bin/prog");
        File.CreateSymbolicLink(Path.Combine(_copy, "usr/local/bin/up"), "../../../../../../usr/bin/dash");
        Assert.True(File.Exists("/usr/bin/dash"));

        Assert.Null(Start("hostdash"));
        Assert.Null(Start("up"));
        Assert.Null(Start("/../../../usr/bin/dash"));
        Assert.Equal(Path.Combine(_copy, "usr/bin/prog"), Start("inside"));
        Assert.Equal(Path.Combine(_copy, "usr/bin/prog"), Start("/../../usr/bin/prog"));
    }

    [Fact]
    public void A_FIFO_in_the_way_is_never_opened()
    {
        var fifo = Path.Combine(_copy, "usr/local/bin/prog");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", new[] { "-m", "755", fifo })!) mkfifo.WaitForExit();
        Assert.True(Sandbox.Native.FileStatus.Of(fifo) is { IsRegularFile: false, IsDirectory: false });
        Assert.Null(Start("prog"));
    }

    [Theory]
    [InlineData("ls", SearchPath, new[] { "/usr/local/bin/ls", "/usr/bin/ls", "/bin/ls" })]
    [InlineData("/opt/x", SearchPath, new[] { "/opt/x" })]
    [InlineData("ls", "/usr/bin/", new[] { "/usr/bin/ls" })]
    public void Candidates_are_execvps_in_order(string name, string path, string[] expected) =>
        Assert.Equal(expected, FakeChrootDirectStart.Candidates(name, path));
}
