using System.Diagnostics;
using Sandbox.Providers.Confinement;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// The confinement helper that booted-machine commands run through, run here on the host on its
/// own (it only ever confines itself): no_new_privs, the seccomp filter, the bounding set, the
/// working directory, the PATH search, and its failures.
/// </summary>
[Trait("User", "Root")]
public sealed class ConfineHelperTests : IDisposable
{
    private readonly TemporaryFolder _folder = new("confine-helper");

    public void Dispose() => _folder.Dispose();

    private (int ExitCode, string StdOut, string StdErr) Run(byte[] helper, params string[] arguments)
    {
        var path = Path.Combine(_folder.Path, $"helper-{Guid.NewGuid():N}");
        File.WriteAllBytes(path, helper);
        File.SetUnixFileMode(path, (UnixFileMode)0b101_101_101);
        var start = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr);
    }

    private static string Field(string status, string name) =>
        status.Split('\n').Single(line => line.StartsWith(name + ":", StringComparison.Ordinal))[(name.Length + 1)..].Trim();

    [SkippableFact]
    public void The_helper_sets_no_new_privs_seccomp_and_the_bounding_set_then_runs_the_program_found_on_path()
    {
        Skip.If(!ConfineHelper.Supported, "the helper is x86-64 only.");
        Skip.If(Environment.UserName != "root", "dropping from the bounding set needs root; run the tests as root (CI does).");
        var drop = new[] { CapabilitySet.Number("CAP_SYS_ADMIN"), CapabilitySet.Number("CAP_MKNOD") };
        var helper = ConfineHelper.Build(0, 0, drop, ConfineHelper.ProgramPaths("sh", "/no/such/folder:/usr/bin:/bin"));

        var (exitCode, stdout, stderr) = Run(helper, "/tmp", "sh", "-c", "pwd; cat /proc/self/status; mount -t tmpfs none /mnt 2>/dev/null; echo mount=$?");

        Assert.True(exitCode == 0, stderr);
        Assert.StartsWith("/tmp\n", stdout);
        Assert.Equal("1", Field(stdout, "NoNewPrivs"));
        Assert.Equal("2", Field(stdout, "Seccomp"));
        var bounding = Convert.ToUInt64(Field(stdout, "CapBnd"), 16);
        Assert.Equal(0ul, bounding & ((1ul << 21) | (1ul << 27)));
        Assert.NotEqual(0ul, bounding & (1ul << 0)); // CAP_CHOWN stays
        Assert.Contains("mount=", stdout);
        Assert.DoesNotContain("mount=0", stdout);
    }

    [SkippableFact]
    public void The_helper_takes_the_users_ids_and_reports_what_it_cannot_do()
    {
        Skip.If(!ConfineHelper.Supported, "the helper is x86-64 only.");
        Skip.If(Environment.UserName != "root", "changing uid needs root; run the tests as root (CI does).");
        var asUser = ConfineHelper.Build(1000, 1000, Array.Empty<int>(), ConfineHelper.ProgramPaths("id", null));
        Assert.Equal("1000:1000\n", Run(asUser, "/", "id", "-u").StdOut.Replace("\n", ":") + Run(asUser, "/", "id", "-g").StdOut);

        var missing = Run(ConfineHelper.Build(0, 0, Array.Empty<int>(), ConfineHelper.ProgramPaths("no-such-program", "/usr/bin")), "/", "no-such-program");
        Assert.Equal((ConfineHelper.ExecFailureExitCode, ConfineHelper.ExecFailure + "\n"), (missing.ExitCode, missing.StdErr));

        var noFolder = Run(ConfineHelper.Build(0, 0, Array.Empty<int>(), ConfineHelper.ProgramPaths("true", null)), "/no/such/folder", "true");
        Assert.Equal(Providers.OverlayLauncher.SetupExitCode, noFolder.ExitCode);
        Assert.StartsWith(Providers.OverlayLauncher.SetupMarker, noFolder.StdErr);
    }

    [Fact]
    public void Program_paths_follow_execvp()
    {
        Assert.Equal(new[] { "./run.sh" }, ConfineHelper.ProgramPaths("./run.sh", "/bin"));
        Assert.Equal(new[] { "/usr/bin/cat", "/bin/cat", "cat" }, ConfineHelper.ProgramPaths("cat", "/usr/bin/:/bin:"));
    }
}
