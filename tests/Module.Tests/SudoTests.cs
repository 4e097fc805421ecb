using Sandbox.Native;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests;

/// <summary>
/// Under sudo (SUDO_UID/SUDO_GID set) root runs the providers, but the store's folders and records,
/// exported tarballs and copied-out files belong to the calling user; image contents keep their owners.
/// </summary>
[Trait("User", "Root")]
public sealed class SudoTests
{
    [Fact]
    public void The_sudo_callers_store_is_under_their_home()
    {
        using var folder = new TemporaryFolder("sudo-passwd");
        var passwd = Path.Combine(folder.Path, "passwd");
        File.WriteAllText(passwd, "root:x:0:0:root:/root:/bin/sh\nalice:x:1234:1235::/home/alice:/bin/sh\n");
        var variables = new Dictionary<string, string> { ["SUDO_UID"] = "1234", ["SUDO_GID"] = "1235", ["SUDO_USER"] = "alice" };

        var caller = SudoCaller.Detect(name => variables.GetValueOrDefault(name), isRoot: true, passwd);

        Assert.Equal(new SudoCaller("alice", 1234, 1235, "/home/alice"), caller);
        Assert.Equal("/home/alice/.local/share/sandbox", StoreLayout.ResolveRoot(name => variables.GetValueOrDefault(name), true, "/root", caller));
        Assert.Null(SudoCaller.Detect(name => variables.GetValueOrDefault(name), isRoot: false, passwd));
        Assert.Equal("/var/lib/sandbox", StoreLayout.ResolveRoot(_ => null, true, "/root"));
        Assert.Equal("/x/sandbox", StoreLayout.ResolveRoot(name => name == "XDG_DATA_HOME" ? "/x" : null, false, "/home/bob"));
        Assert.Equal("/home/bob/.local/share/sandbox", StoreLayout.ResolveRoot(_ => null, false, "/home/bob"));
    }

    [SkippableFact]
    public void Under_sudo_what_the_module_makes_for_the_user_belongs_to_them()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        UnprivilegedUser.Ensure();
        var uid = uint.Parse(RunAsRoot.Command("id", "-u", UnprivilegedUser.Name).Trim());
        var gid = uint.Parse(RunAsRoot.Command("id", "-g", UnprivilegedUser.Name).Trim());
        using var folder = new TemporaryFolder("sudo");
        var store = Path.Combine(folder.Path, "store");
        var tree = BusyboxTree.Create(Path.Combine(folder.Path, "tree"));
        var outFolder = Path.Combine(folder.Path, "out");
        Directory.CreateDirectory(outFolder);
        using var remote = new RemoteHarness(asRoot: true, sharedStore: store, environment: new Dictionary<string, string>
        {
            ["SUDO_UID"] = uid.ToString(), ["SUDO_GID"] = gid.ToString(), ["SUDO_USER"] = UnprivilegedUser.Name,
        });
        ISandboxHarness root = remote;

        root.Import(HarnessFixture.ImageName, tree);
        var sandbox = root.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        root.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", "echo report > /root/report.txt" } });
        var exported = remote.Export(HarnessFixture.ImageName, Path.Combine(outFolder, "image.tar.gz"));
        var copied = root.CopyOutOf(sandbox.Id, "/root/report.txt", outFolder);

        foreach (var path in new[]
                 {
                     Path.Combine(store, "images"), Path.Combine(store, "sandboxes"), Path.Combine(store, "CACHEDIR.TAG"),
                     Path.Combine(store, "images", HarnessFixture.ImageName), Path.Combine(store, "images", HarnessFixture.ImageName, "image.json"),
                     root.StateFolder(sandbox.Id), Path.Combine(root.StateFolder(sandbox.Id), "state.json"), exported, copied,
                 })
        {
            var status = FileStatus.Of(path)!.Value;
            Assert.True(status.Uid == uid && status.Gid == gid, $"{path} belongs to the sudo caller (is {status.Uid}:{status.Gid})");
        }
        // The image's own files keep their owners: root's stays root's.
        Assert.Equal(0u, FileStatus.Of(Path.Combine(root.ImageRootFs(HarnessFixture.ImageName), "etc/passwd"))!.Value.Uid);
        root.Remove(sandbox.Id);
    }

    private static Dictionary<string, string> SudoEnvironment()
    {
        UnprivilegedUser.Ensure();
        var uid = RunAsRoot.Command("id", "-u", UnprivilegedUser.Name).Trim();
        var gid = RunAsRoot.Command("id", "-g", UnprivilegedUser.Name).Trim();
        return new Dictionary<string, string> { ["SUDO_UID"] = uid, ["SUDO_GID"] = gid, ["SUDO_USER"] = UnprivilegedUser.Name };
    }

    /// <summary>
    /// Inside root sandboxes made under sudo the image's files are root's, on the host too, even after
    /// copying out a folder in which the sandbox planted a link to the image's root filesystem.
    /// </summary>
    [SkippableTheory]
    [InlineData(ProviderName.Bubblewrap)]
    [InlineData(ProviderName.Nspawn)]
    public void Under_sudo_image_files_keep_root_as_owner(ProviderName provider)
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var folder = new TemporaryFolder("sudo-owners");
        var store = Path.Combine(folder.Path, "store");
        var outFolder = Directory.CreateDirectory(Path.Combine(folder.Path, "out")).FullName;
        using var remote = new RemoteHarness(asRoot: true, sharedStore: store, environment: SudoEnvironment());
        ISandboxHarness root = remote;
        root.Import(HarnessFixture.ImageName, BusyboxTree.Create(Path.Combine(folder.Path, "tree")));
        var rootfs = root.ImageRootFs(HarnessFixture.ImageName);
        var sandbox = root.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = provider });

        var plant = root.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", "mkdir /out && echo r > /out/report && ln -s \"$1\" /out/image", "sh", rootfs } });
        Assert.True(plant.ExitCode == 0, plant.StdErr);
        root.CopyOutOf(sandbox.Id, "/out", outFolder);
        var inside = root.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "stat", "-c", "%u %U", "/bin/busybox", "/root", "/etc/passwd" } });

        Assert.Equal("0 root\n0 root\n0 root\n", inside.StdOut);
        foreach (var path in new[] { rootfs, Path.Combine(rootfs, "bin", "busybox"), Path.Combine(rootfs, "root"), Path.Combine(rootfs, "etc", "passwd") })
            Assert.True(FileStatus.Of(path)!.Value.Uid == 0, $"{path} is still root's");
        var sudoUid = uint.Parse(SudoEnvironment()["SUDO_UID"]);
        Assert.Equal(sudoUid, FileStatus.Of(Path.Combine(outFolder, "out", "report"))!.Value.Uid); // what was copied out is the user's
        root.Remove(sandbox.Id);
    }

    /// <summary>
    /// Root Bubblewrap runs another user's command from a user namespace in which host root has no
    /// capabilities, and the sudo caller's store is 0700: bwrap could not reach merged/ and failed with
    /// "Can't find source path /proc/self/fd/11: Permission denied". Refused before bwrap, naming what
    /// to do instead; a root command of the same sandbox still runs.
    /// </summary>
    [SkippableFact]
    public void Under_sudo_root_Bubblewrap_refuses_another_users_command_naming_the_way_round()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var folder = new TemporaryFolder("sudo-user");
        var store = Path.Combine(folder.Path, "store");
        using var remote = new RemoteHarness(asRoot: true, sharedStore: store, environment: SudoEnvironment());
        ISandboxHarness root = remote;
        root.Import(HarnessFixture.ImageName, BusyboxTree.Create(Path.Combine(folder.Path, "tree")));
        var sandbox = root.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });

        var refused = Assert.Throws<SandboxException>(() => root.Invoke(sandbox.Id, new SandboxCommand { User = "tester", Argv = new[] { "id", "-u" } }));

        Assert.Equal("UserNeedsReachableStore", refused.ErrorId);
        Assert.Contains("setpriv --reuid=tester", refused.Message + refused.Fix);
        Assert.Equal("0\n", root.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "id", "-u" } }).StdOut);
        root.Remove(sandbox.Id);
    }

    /// <summary>
    /// The user's store can hold an image the user made rootless (its root's files belong to the
    /// user): under sudo it would show "UNKNOWN 1001" owners, so it is refused with a clear error.
    /// </summary>
    [SkippableFact]
    public void Under_sudo_an_image_the_user_made_rootless_is_refused_not_shown_with_wrong_owners()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var folder = new TemporaryFolder("sudo-rootless-image");
        using var user = new RemoteHarness();
        ((ISandboxHarness)user).Import(HarnessFixture.ImageName, BusyboxTree.Create(Path.Combine(folder.Path, "tree")));
        using var sudo = new RemoteHarness(asRoot: true, sharedStore: user.StoreRoot, environment: SudoEnvironment());

        var error = Assert.Throws<SandboxException>(() =>
            ((ISandboxHarness)sudo).Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap }));

        Assert.Equal("ImageOwnerMismatch", error.ErrorId);
        Assert.Contains("New-SandboxImage", error.Message);
    }
}
