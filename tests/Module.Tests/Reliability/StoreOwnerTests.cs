using System.Diagnostics;
using System.Text.Json.Nodes;
using Sandbox.Native;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// A store someone else controls is refused before anything is read or written there. The victim is
/// sandbox-test (its engine runs in an EngineHost process as that user); the attacker is
/// sandbox-test2, who plants a store folder in /tmp, a link, or owns a folder above the store. Each
/// attack asks the victim's engine to import an image: the old engine wrote images/ into the
/// attacker's folder; now it answers StoreNotOwned or StorePathUnsafe and the folder stays as it was.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class StoreOwnerTests
{
    [SkippableFact]
    public void A_store_folder_another_user_made_in_tmp_is_refused_and_left_untouched()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var planted = new TmpPaths();
        var store = planted.Name("planted-store");
        Attacker($"mkdir -m 777 \"$1\"", store); // world-writable, so the victim could write there

        var error = VictimImports(store, planted);

        Assert.Equal("StoreNotOwned", error.Id);
        Assert.Contains(store, error.Message);
        Assert.Contains(UnprivilegedUser.OtherName, error.Message); // names who owns it
        Assert.Empty(Directory.EnumerateFileSystemEntries(store));
        Assert.Equal(0b111_111_111u, FileStatus.Of(store)!.Value.Permissions); // not even tightened
    }

    [SkippableFact]
    public void A_store_root_that_is_a_link_is_refused_even_to_a_folder_of_the_victim()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var planted = new TmpPaths();
        // The target is the victim's own private folder: only the link, which the attacker can repoint
        // at any moment (at a folder of theirs, say), makes it unsafe.
        var own = planted.Name("victim-folder");
        Directory.CreateDirectory(own);
        RunAsRoot.Command("chown", $"{UnprivilegedUser.Name}:", own);
        File.SetUnixFileMode(own, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var link = planted.Name("planted-link");
        Attacker("ln -s \"$1\" \"$2\"", own, link);

        var error = VictimImports(link, planted);

        Assert.Equal("StoreNotOwned", error.Id);
        Assert.Contains("link", error.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(own));
    }

    [SkippableFact]
    public void A_store_inside_a_world_writable_folder_without_the_sticky_bit_is_refused()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var planted = new TmpPaths();
        var shared = planted.Name("shared");
        Directory.CreateDirectory(shared);
        File.SetUnixFileMode(shared, (UnixFileMode)0b111_111_111); // 0777, root's, no sticky bit: anyone may rename in it
        var store = Path.Combine(shared, "store");

        var error = VictimImports(store, planted);

        Assert.Equal("StorePathUnsafe", error.Id);
        Assert.Contains(shared, error.Message);
        Assert.Contains("0777", error.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(shared)); // the store was not made there
    }

    [SkippableFact]
    public void A_store_of_the_victim_below_a_folder_of_another_user_is_refused()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var planted = new TmpPaths();
        var theirs = planted.Name("theirs");
        Attacker("mkdir -m 755 \"$1\"", theirs);
        var store = Path.Combine(theirs, "store");
        Directory.CreateDirectory(store); // the victim's own store, but its owner-to-be does not own the folder above
        RunAsRoot.Command("chown", $"{UnprivilegedUser.Name}:", store);

        var error = VictimImports(store, planted);

        Assert.Equal("StorePathUnsafe", error.Id);
        Assert.Contains(theirs, error.Message);
        Assert.Contains(UnprivilegedUser.OtherName, error.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(store));
    }

    [SkippableFact]
    public void A_folder_above_the_store_writable_by_a_group_another_user_is_in_is_refused()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        UnprivilegedUser.Ensure();
        UnprivilegedUser.Ensure(UnprivilegedUser.OtherName);
        using var planted = new TmpPaths();
        var folder = planted.Name("group-writable");
        Directory.CreateDirectory(folder);
        RunAsRoot.Command("chown", $"{UnprivilegedUser.Name}:{UnprivilegedUser.OtherName}", folder);
        File.SetUnixFileMode(folder, (UnixFileMode)0b111_111_101); // 0775, and sandbox-test2 is in that group
        var store = Path.Combine(folder, "store");

        var error = VictimImports(store, planted);

        Assert.Equal("StorePathUnsafe", error.Id);
        Assert.Contains("0775", error.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder));
    }

    [SkippableFact]
    public void A_folder_writable_only_by_the_owners_private_group_is_accepted()
    {
        // umask 002 (Ubuntu's user private groups) leaves ~/.local and ~/.local/share 0775: that group
        // holds nobody but the owner, so the default store below them must keep working.
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        UnprivilegedUser.Ensure();
        using var planted = new TmpPaths();
        var folder = planted.Name("private-group");
        Directory.CreateDirectory(folder);
        RunAsRoot.Command("chown", $"{UnprivilegedUser.Name}:{UnprivilegedUser.Name}", folder);
        File.SetUnixFileMode(folder, (UnixFileMode)0b111_111_101);
        var store = Path.Combine(folder, "store");

        var answer = EngineHost(UnprivilegedUser.Name, store, new Dictionary<string, string>(), ImportRequest(planted));

        Assert.True(answer.Ok, answer.Message);
        Assert.Equal(0b111_000_000u, FileStatus.Of(store)!.Value.Permissions);
    }

    [SkippableFact]
    public void Root_refuses_a_store_owned_by_an_unprivileged_user()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        UnprivilegedUser.Ensure();
        using var folder = new TemporaryFolder("owner-root");
        var store = Path.Combine(folder.Path, "store");
        Directory.CreateDirectory(store);
        File.SetUnixFileMode(store, (UnixFileMode)0b111_101_101);
        RunAsRoot.Command("chown", $"{UnprivilegedUser.Name}:", store);

        var error = Assert.Throws<SandboxException>(() => new SandboxEngine(new StoreLayout(store)));

        Assert.Equal("StoreNotOwned", error.ErrorId);
        Assert.Equal(SandboxErrorKind.PermissionDenied, error.Kind);
        Assert.Contains(store, error.Message);
        Assert.Contains(UnprivilegedUser.Name, error.Message);
        Assert.Contains("SANDBOX_HOME", error.Fix);
        Assert.Empty(Directory.EnumerateFileSystemEntries(store));
        Assert.Equal(0b111_101_101u, FileStatus.Of(store)!.Value.Permissions); // root did not tighten it either
    }

    [SkippableFact]
    public void Under_sudo_a_store_owned_by_a_third_user_is_refused()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var planted = new TmpPaths();
        var store = planted.Name("sudo-store");
        Attacker("mkdir -m 755 \"$1\"", store);
        UnprivilegedUser.Ensure();
        var uid = RunAsRoot.Command("id", "-u", UnprivilegedUser.Name).Trim();
        var gid = RunAsRoot.Command("id", "-g", UnprivilegedUser.Name).Trim();

        var answer = EngineHost(user: null, store, new Dictionary<string, string>
        {
            ["SUDO_UID"] = uid, ["SUDO_GID"] = gid, ["SUDO_USER"] = UnprivilegedUser.Name,
        }, ImportRequest(planted));

        Assert.Equal("StoreNotOwned", answer.Id);
        Assert.Contains(UnprivilegedUser.OtherName, answer.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(store));
    }

    [SkippableFact]
    public void A_fresh_store_in_a_safe_place_is_made_and_used()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        UnprivilegedUser.Ensure();
        using var planted = new TmpPaths();
        // The victim's own folder directly in /tmp (sticky, root's): the usual place for a test store.
        var own = planted.Name("victim-own");
        Directory.CreateDirectory(own);
        RunAsRoot.Command("chown", $"{UnprivilegedUser.Name}:", own);
        var store = Path.Combine(own, "deeper", "store");

        var answer = EngineHost(UnprivilegedUser.Name, store, new Dictionary<string, string>(), ImportRequest(planted));

        Assert.True(answer.Ok, answer.Message);
        var status = FileStatus.Of(store)!.Value;
        Assert.Equal(RunAsRoot.Command("id", "-u", UnprivilegedUser.Name).Trim(), status.Uid.ToString());
        Assert.Equal(0b111_000_000u, status.Permissions);
        Assert.True(Directory.Exists(Path.Combine(store, "images", HarnessFixture.ImageName)));
    }

    [SkippableFact]
    public void A_link_on_the_way_that_another_user_owns_is_refused_even_in_a_sticky_folder()
    {
        // The attacker's link in /tmp (sticky) points at the victim's own folder today; its owner can
        // re-point it at any moment, and fs.protected_symlinks may be off (it is on this machine).
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var planted = new TmpPaths();
        var own = VictimFolder(planted, "victim-target");
        var link = planted.Name("attacker-link");
        Attacker("ln -s \"$1\" \"$2\"", own, link);

        var error = VictimImports(Path.Combine(link, "store"), planted);

        Assert.Equal("StorePathUnsafe", error.Id);
        Assert.Contains(link, error.Message);
        Assert.Contains(UnprivilegedUser.OtherName, error.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(own));
    }

    [SkippableFact]
    public void A_folder_above_the_store_whose_acl_lets_another_user_write_is_refused()
    {
        // Mode 0770 with the victim's private group looks private; the ACL entry u:sandbox-test2:rwx
        // (the group bits are only its mask) lets the attacker rename the store away.
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var planted = new TmpPaths();
        var folder = VictimFolder(planted, "acl-parent");
        File.SetUnixFileMode(folder, (UnixFileMode)0b111_111_000);
        AclXattr.GrantWrite(folder, "system.posix_acl_access", Uid(UnprivilegedUser.OtherName));

        var error = VictimImports(Path.Combine(folder, "store"), planted);

        Assert.Equal("StorePathUnsafe", error.Id);
        Assert.Contains(folder, error.Message);
        Assert.Contains(UnprivilegedUser.OtherName, error.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder));
    }

    [SkippableTheory]
    [InlineData("system.posix_acl_access")]
    [InlineData("system.posix_acl_default")]
    public void A_store_root_whose_acl_lets_another_user_write_is_refused(string acl)
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var planted = new TmpPaths();
        var store = VictimFolder(planted, "acl-store");
        AclXattr.GrantWrite(store, acl, Uid(UnprivilegedUser.OtherName));

        var error = VictimImports(store, planted);

        Assert.Equal("StoreNotOwned", error.Id);
        Assert.Contains(UnprivilegedUser.OtherName, error.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(store));
    }

    [SkippableFact]
    public void A_trash_link_in_the_store_is_refused()
    {
        // trash/ receives removed sandboxes (StoreTrash): a link there would move them into the attacker's folder.
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var planted = new TmpPaths();
        var store = VictimFolder(planted, "trash-store");
        var theirs = planted.Name("attacker-trash");
        Attacker("mkdir -m 777 \"$1\"", theirs);
        var trash = Path.Combine(store, "trash");
        File.CreateSymbolicLink(trash, theirs);
        RunAsRoot.Command("chown", "-h", $"{UnprivilegedUser.OtherName}:", trash);

        var error = VictimImports(store, planted);

        Assert.Equal("StoreNotOwned", error.Id);
        Assert.Contains("trash", error.Message);
        Assert.Equal(new[] { trash }, Directory.EnumerateFileSystemEntries(store));
        Assert.Empty(Directory.EnumerateFileSystemEntries(theirs));
    }

    [SkippableFact]
    public void A_cachedir_tag_link_in_the_store_is_refused_and_not_written_through()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var planted = new TmpPaths();
        var store = VictimFolder(planted, "tag-store");
        var target = planted.Name("tag-target"); // missing: the old engine created it through the link
        var tag = Path.Combine(store, "CACHEDIR.TAG");
        File.CreateSymbolicLink(tag, target);
        RunAsRoot.Command("chown", "-h", $"{UnprivilegedUser.Name}:", tag);

        var error = VictimImports(store, planted);

        Assert.Equal("StoreNotOwned", error.Id);
        Assert.Contains("CACHEDIR.TAG", error.Message);
        Assert.False(File.Exists(target) || Directory.Exists(target), "the tag was written through the link");
    }

    [SkippableFact]
    public void A_missing_parent_another_user_makes_before_the_engine_does_is_refused()
    {
        // The race in /tmp: the parent was missing at the first check; the attacker makes it (theirs, open
        // to them) right before the engine's mkdir. Played deterministically at that window, as root's engine.
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var planted = new TmpPaths();
        var parent = planted.Name("raced-parent");
        var store = Path.Combine(parent, "store");

        var error = Assert.Throws<SandboxException>(() =>
            new StoreLayout(store).EnsureCreated(afterFirstCheck: () => Attacker("mkdir -m 777 \"$1\"", parent)));

        Assert.Equal("StorePathUnsafe", error.ErrorId);
        Assert.Contains(parent, error.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(parent)); // no store made in the attacker's folder
    }

    [SkippableFact]
    public void A_link_on_the_way_owned_by_the_store_owner_is_followed()
    {
        // The kernel's own rule: links of the owner (or root) are fine; the victim's link in /tmp to its folder.
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var planted = new TmpPaths();
        var own = VictimFolder(planted, "own-target");
        var link = planted.Name("own-link");
        File.CreateSymbolicLink(link, own);
        RunAsRoot.Command("chown", "-h", $"{UnprivilegedUser.Name}:", link);

        var answer = EngineHost(UnprivilegedUser.Name, Path.Combine(link, "store"), new Dictionary<string, string>(), ImportRequest(planted));

        Assert.True(answer.Ok, answer.Message);
        Assert.True(File.Exists(Path.Combine(own, "store", "CACHEDIR.TAG")));
    }

    /// <summary>A 0700 folder of the victim directly in /tmp.</summary>
    private static string VictimFolder(TmpPaths planted, string purpose)
    {
        UnprivilegedUser.Ensure();
        var folder = planted.Name(purpose);
        Directory.CreateDirectory(folder);
        RunAsRoot.Command("chown", $"{UnprivilegedUser.Name}:{UnprivilegedUser.Name}", folder);
        File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return folder;
    }

    private static uint Uid(string user)
    {
        UnprivilegedUser.Ensure(user);
        return uint.Parse(RunAsRoot.Command("id", "-u", user).Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static (bool Ok, string Id, string Message) VictimImports(string store, TmpPaths planted)
    {
        UnprivilegedUser.Ensure();
        var answer = EngineHost(UnprivilegedUser.Name, store, new Dictionary<string, string>(), ImportRequest(planted));
        Assert.False(answer.Ok, $"the victim's engine used the store {store}");
        return answer;
    }

    private static void Attacker(string script, params string[] arguments)
    {
        var (exitCode, output) = OtherUser.Run(script, arguments);
        Assert.True(exitCode == 0, $"the attacker's setup failed: {output}");
    }

    /// <summary>Importing the busybox tree: what writes images/ into whatever folder the store is.</summary>
    private static string ImportRequest(TmpPaths planted)
    {
        var tree = BusyboxTree.Create(Path.Combine(planted.RootOwned, "tree"));
        return new JsonObject
        {
            ["op"] = "import", ["args"] = new JsonObject { ["name"] = HarnessFixture.ImageName, ["path"] = tree },
        }.ToJsonString();
    }

    /// <summary>
    /// Runs an EngineHost over <paramref name="store"/> (as <paramref name="user"/>, or root when null)
    /// with one request, and returns its first answer: the store refused at open, or the request's.
    /// </summary>
    private static (bool Ok, string Id, string Message) EngineHost(string? user, string store, Dictionary<string, string> environment, string request)
    {
        var start = new ProcessStartInfo(user is null ? "env" : "runuser")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
            UseShellExecute = false, WorkingDirectory = "/tmp",
        };
        var words = (user is null ? Array.Empty<string>() : new[] { "-u", user, "--", "env" })
            .Concat(new[]
            {
                "-i", "PATH=/usr/local/bin:/usr/bin:/bin", $"HOME={(user is null ? "/root" : "/home/" + user)}",
                "DOTNET_CLI_TELEMETRY_OPTOUT=1", "DOTNET_NOLOGO=1", "TERM=dumb",
            })
            .Concat(environment.Select(kv => $"{kv.Key}={kv.Value}"))
            .Concat(new[] { "dotnet", EngineHostFiles.EntryAssembly, "serve", store });
        foreach (var word in words) start.ArgumentList.Add(word);
        using var host = Process.Start(start)!;
        var stderr = host.StandardError.ReadToEndAsync();
        host.StandardInput.WriteLine(request);
        host.StandardInput.Close();
        var line = host.StandardOutput.ReadLine();
        host.StandardOutput.ReadToEnd();
        host.WaitForExit();
        Assert.True(line is not null, $"EngineHost gave no answer: {stderr.Result}");
        var answer = JsonNode.Parse(line!)!;
        var ok = answer["ok"]!.GetValue<bool>();
        return ok
            ? (true, "", "")
            : (false, answer["errorId"]!.GetValue<string>(), answer["message"]!.GetValue<string>());
    }

    /// <summary>
    /// Names directly in /tmp for what the attacker plants (where a real attacker would), and a root
    /// folder for the image tree; everything is removed at the end, whoever made it.
    /// </summary>
    private sealed class TmpPaths : IDisposable
    {
        private readonly string _prefix = $"/tmp/sandbox-test-owner-{Guid.NewGuid():N}";
        private readonly TemporaryFolder _rootOwned = new("owner-tree");

        public string RootOwned => _rootOwned.Path;

        public string Name(string purpose) => $"{_prefix}-{purpose}";

        public void Dispose()
        {
            foreach (var path in Directory.EnumerateFileSystemEntries("/tmp", Path.GetFileName(_prefix) + "-*"))
            {
                try { RunAsRoot.Command("rm", "-rf", "--one-file-system", path); }
                catch (InvalidOperationException) { /* best effort, as TemporaryFolder */ }
            }
            _rootOwned.Dispose();
        }
    }
}
