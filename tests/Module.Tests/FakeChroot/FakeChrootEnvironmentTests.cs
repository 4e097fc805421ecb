using System.Diagnostics;
using Sandbox.Native;
using Sandbox.Providers;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.FakeChroot;

/// <summary>
/// The FakeChroot command line as plain data: what the fakechroot and fakeroot scripts would have
/// set, given the tools, the copy, faked's key and the copy's linker folders. No root, no sandbox.
/// </summary>
[Trait("Provider", "FakeChroot")]
public sealed class FakeChrootEnvironmentTests
{
    private static readonly FakeChrootEnvironment.Tools Tools = new("/usr/bin/env", "/usr/sbin/chroot", "2.20.1");
    private const string Copy = "/store/sandboxes/abc/root";

    private static FakeChrootEnvironment Build(Dictionary<string, string>? environment = null, string[]? argv = null,
        string? workingDirectory = null, uint uid = 0, uint gid = 0, Func<string, string, bool>? onHostPath = null) =>
        FakeChrootEnvironment.Build(Tools,
            environment ?? new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin", ["HOME"] = "/root", ["SECRET"] = "s3cret" },
            argv ?? new[] { "id", "-u" }, workingDirectory, Copy + "/", "12345", uid, gid,
            new[] { "/usr/local/lib", "/usr/lib/x86_64-linux-gnu" }, new[] { "/lib/systemd" }, onHostPath ?? ((_, _) => true));

    private static Dictionary<string, string> Assignments(FakeChrootEnvironment built) =>
        built.Prefix.Skip(1).TakeWhile(word => word.Contains('='))
            .ToDictionary(word => word[..word.IndexOf('=')], word => word[(word.IndexOf('=') + 1)..]);

    [Fact]
    public void The_host_chroot_runs_the_command_in_the_copy_with_the_variables_set_by_env()
    {
        var built = Build();
        Assert.Equal("/usr/bin/env", built.Prefix[0]);
        Assert.Equal(new[] { "/usr/sbin/chroot", Copy }, built.Prefix.TakeLast(2));
        Assert.Equal(new[] { "id", "-u" }, built.Argv);
        Assert.Equal(built.Prefix.Concat(built.Argv), built.CommandLine);
    }

    /// <summary>libfakechroot's chroot(2) sets FAKECHROOT_BASE and appends the copy's /usr/lib and /lib; its execve passes all on.</summary>
    [Fact]
    public void A_direct_start_has_chroots_variables_and_what_chroot_2_adds_all_in_environ()
    {
        var built = Build();
        var direct = built.DirectEnvironment();

        Assert.Equal(Copy, built.Copy);
        Assert.Equal(Copy, direct["FAKECHROOT_BASE"]);
        Assert.Equal(Assignments(built)["LD_LIBRARY_PATH"] + $":{Copy}/usr/lib:{Copy}/lib", direct["LD_LIBRARY_PATH"]);
        foreach (var (name, value) in Assignments(built).Where(pair => pair.Key != "LD_LIBRARY_PATH"))
            Assert.Equal(value, direct[name]);
        Assert.Equal("s3cret", direct["SECRET"]);
        Assert.Equal(built.Environment.Count + Assignments(built).Count + 1, direct.Count);
    }

    [Fact]
    public void The_variables_are_those_the_wrapper_scripts_left_for_chroot()
    {
        var variables = Assignments(Build(uid: 1000, gid: 100));
        Assert.Equal("libfakeroot-sysv.so:libfakechroot.so", variables["LD_PRELOAD"]);
        Assert.Equal("12345", variables["FAKEROOTKEY"]);
        Assert.Equal("true", variables["FAKECHROOT"]);
        Assert.Equal("2.20.1", variables["FAKECHROOT_VERSION"]);
        Assert.Equal("/dev:/proc:/sys", variables["FAKECHROOT_EXCLUDE_PATH"]);
        Assert.Equal(FakeChrootEnvironment.FakerootLibraries, variables["FAKECHROOT_LDLIBPATH"]);
        foreach (var name in new[] { "FAKEROOTUID", "FAKEROOTEUID", "FAKEROOTSUID", "FAKEROOTFUID" }) Assert.Equal("1000", variables[name]);
        foreach (var name in new[] { "FAKEROOTGID", "FAKEROOTEGID", "FAKEROOTSGID", "FAKEROOTFGID" }) Assert.Equal("100", variables[name]);
        Assert.False(variables.ContainsKey("FAKECHROOT_BASE"), "libfakechroot's chroot(2) sets the base, as with the scripts");
    }

    [Fact]
    public void Library_path_is_chroot_fakechroots_fakeroot_in_the_copy_then_ld_so_conf_then_runpath_then_fakeroot_on_the_host()
    {
        var expected = string.Join(':',
            Copy + "/usr/lib/x86_64-linux-gnu/libfakeroot", Copy + "/usr/lib64/libfakeroot", Copy + "/usr/lib/libfakeroot",
            Copy + "/usr/local/lib", Copy + "/usr/lib/x86_64-linux-gnu", Copy + "/lib/systemd",
            "/usr/lib/x86_64-linux-gnu/libfakeroot", "/usr/lib64/libfakeroot", "/usr/lib/libfakeroot");
        Assert.Equal(expected, Assignments(Build())["LD_LIBRARY_PATH"]);
    }

    [Fact]
    public void Substituted_commands_are_listed_for_every_folder_of_the_commands_PATH_as_chroot_env_does()
    {
        Assert.Equal(
            ":/a/chroot=/usr/sbin/chroot.fakechroot:/a/env=/usr/bin/env.fakechroot:/a/ischroot=/bin/true:/a/ldconfig=/bin/true:/a/ldd=/usr/bin/ldd.fakechroot:" +
            "/b/chroot=/usr/sbin/chroot.fakechroot:/b/env=/usr/bin/env.fakechroot:/b/ischroot=/bin/true:/b/ldconfig=/bin/true:/b/ldd=/usr/bin/ldd.fakechroot:",
            FakeChrootEnvironment.CommandSubstitutions("/a::/b"));
        Assert.Equal(FakeChrootEnvironment.CommandSubstitutions("/usr/bin:/bin"), Assignments(Build())["FAKECHROOT_CMD_SUBST"]);
    }

    [Fact]
    public void A_PATH_without_chroot_gets_usr_sbin_and_sbin_for_the_command_too()
    {
        var built = Build(onHostPath: (_, _) => false);
        Assert.Equal("/usr/bin:/bin:/usr/sbin:/sbin", built.Environment["PATH"]);
        Assert.Contains("/sbin/ldconfig=/bin/true", Assignments(built)["FAKECHROOT_CMD_SUBST"]);
    }

    [Fact]
    public void The_commands_own_variables_stay_in_environ_and_never_on_the_command_line()
    {
        var built = Build();
        Assert.Equal("s3cret", built.Environment["SECRET"]);
        Assert.DoesNotContain(built.CommandLine, word => word.Contains("s3cret"));
        Assert.False(built.Environment.ContainsKey("LD_PRELOAD"), "setpriv and time before chroot run without the preload");
    }

    [Fact]
    public void Variables_of_the_preload_given_by_the_caller_are_replaced_not_passed_on()
    {
        var built = Build(new Dictionary<string, string>
        {
            ["PATH"] = "/bin", ["LD_PRELOAD"] = "/tmp/evil.so", ["FAKEROOTKEY"] = "1", ["FAKECHROOT_BASE"] = "/", ["LD_LIBRARY_PATH"] = "/tmp",
        });
        Assert.DoesNotContain("LD_PRELOAD", built.Environment.Keys);
        Assert.DoesNotContain("FAKECHROOT_BASE", built.Environment.Keys);
        Assert.DoesNotContain("LD_LIBRARY_PATH", built.Environment.Keys);
        Assert.Equal("12345", Assignments(built)["FAKEROOTKEY"]);
        Assert.DoesNotContain(built.CommandLine, word => word.Contains("evil"));
    }

    [Fact]
    public void A_working_folder_is_entered_by_the_copys_shell_after_chroot()
    {
        var built = Build(workingDirectory: "/data dir");
        Assert.Equal(new[] { "/bin/sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sandbox-chdir", "/data dir", "id", "-u" }, built.Argv);
        Assert.Equal(new[] { "id", "-u" }, Build(workingDirectory: "/").Argv);
    }

    [Theory]
    [InlineData("*.conf", "libc.conf", true)]
    [InlineData("*.conf", "libc.conf.bak", false)]
    [InlineData("*", "anything", true)]
    [InlineData("x?.conf", "x1.conf", true)]
    [InlineData("x?.conf", "x12.conf", false)]
    [InlineData("a*b*c", "aXbYc", true)]
    [InlineData("a*b*c", "aXbY", false)]
    public void Globs_match_as_the_shell_does(string glob, string name, bool matches) =>
        Assert.Equal(matches, LinkerFolders.Matches(glob, name));

    [Fact]
    public void Linker_folders_follow_includes_in_order_bounded_and_never_through_a_link_out_of_the_copy()
    {
        using var copy = new TemporaryFolder("linker-folders");
        var etc = Directory.CreateDirectory(Path.Combine(copy.Path, "etc/ld.so.conf.d")).FullName;
        File.WriteAllText(Path.Combine(copy.Path, "etc/ld.so.conf"), "# comment\ninclude /etc/ld.so.conf.d/*.conf\n/opt/last # trailing\n");
        File.WriteAllText(Path.Combine(etc, "b.conf"), "/usr/lib/b\n");
        File.WriteAllText(Path.Combine(etc, "a.conf"), "  /usr/lib/a  \n\ninclude /etc/ld.so.conf\n"); // a cycle
        File.WriteAllText(Path.Combine(etc, "ignored.txt"), "/nope\n");
        File.WriteAllText(Path.Combine(copy.Path, "host-secret"), "/should/not/appear\n");
        File.CreateSymbolicLink(Path.Combine(etc, "c.conf"), "/etc/passwd"); // resolves inside the copy: absent
        var folders = LinkerFolders.Of(copy.Path);
        Assert.Equal("/usr/lib/a", folders[0]);
        Assert.DoesNotContain("/nope", folders);
        Assert.DoesNotContain(folders, folder => folder.Contains("root:") || folder.Contains("should"));
        Assert.Contains("/usr/lib/b", folders);
        Assert.Equal("/opt/last", folders[^1]);
        Assert.True(folders.Count < 2000, "the include cycle is cut");
    }

    /// <summary>
    /// Each folder goes on LD_LIBRARY_PATH as copy + folder: lines that would name a host folder, the
    /// working folder or a path out of the copy are skipped, the rest normalised.
    /// </summary>
    [Fact]
    public void Linker_folders_that_would_lead_out_of_the_copy_are_skipped()
    {
        using var copy = new TemporaryFolder("linker-lines");
        Directory.CreateDirectory(Path.Combine(copy.Path, "etc"));
        var hostile = new[]
        {
            "lib", "./lib", ":", "/usr/lib:/host", "/usr/lib;/host", "/usr/../../../host", "/..", "/a/b/..",
            "$ORIGIN/../lib", "/usr/$LIB", "/usr/lib\u0001x", "/usr/lib\u007fx",
        };
        File.WriteAllText(Path.Combine(copy.Path, "etc/ld.so.conf"),
            string.Join("\n", hostile) + "\n/usr//lib/./x86_64-linux-gnu/\n/opt/with space\n/\n");

        var folders = LinkerFolders.Of(copy.Path);

        Assert.Equal(new[] { "/usr/lib/x86_64-linux-gnu", "/opt/with space", "/" }, folders);
    }

    [Fact]
    public void Trash_entries_name_the_process_that_threw_them_away()
    {
        Assert.Equal(new ProcessIdentity(1234, 5678), Sandbox.Storage.StoreTrash.Owner("0a1b2c3d4e5f-1234-5678-deadbeef"));
        Assert.Null(Sandbox.Storage.StoreTrash.Owner("0a1b2c3d4e5f"));
        Assert.Null(Sandbox.Storage.StoreTrash.Owner("x-99999999999-1-deadbeef"));
        Assert.Null(Sandbox.Storage.StoreTrash.Owner("../etc-1-1-deadbeef"));
    }

    [Fact]
    public void Exit_of_a_process_nobody_reaps_is_seen_at_once_through_its_pidfd()
    {
        // sleep 30 never waits for its child: the short-lived sh below stays a zombie until sleep 30 ends.
        using var parent = Process.Start(new ProcessStartInfo("/bin/sh", new[] { "-c", "/bin/sh -c 'echo $$; exit 0' & exec sleep 30" })
            { RedirectStandardOutput = true })!;
        try
        {
            var pid = int.Parse(parent.StandardOutput.ReadLine()!);
            Assert.True(Poll.Until(() => File.Exists($"/proc/{pid}/stat") && File.ReadAllText($"/proc/{pid}/stat").Contains(") Z "), TimeSpan.FromSeconds(20)),
                "the child is a zombie");
            var identity = ProcessIdentity.Of(pid);
            Assert.NotNull(identity);
            using var watch = ProcessExitWatch.Watch(identity.Value);
            Assert.NotNull(watch);
            Assert.True(watch.Wait(TimeSpan.FromSeconds(20)), "a zombie has exited");
        }
        finally
        {
            parent.Kill();
            parent.WaitForExit();
        }
    }
}
