using System.Diagnostics;
using System.Globalization;
using Sandbox.Native;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Under sudo root gives what it makes for the caller (copied-out files, store records, locks) to the
/// caller, and the caller is hostile: they own the folders those things are made in. Two ways a chown
/// by name went astray: the folder swapped for a link after the copy was written (the hand-over
/// re-resolved the path and followed it), and a file replaced by a hard link to one of root's files
/// (a chown of a name changes the inode behind it, which is root's file). Each attack here is won
/// deterministically: the sandbox's (hostile) tar, or the test in the caller's place, makes its move
/// after the copy is written and before the engine would hand it over, or before a store hand-over.
/// The victims are root's files in a root-owned folder of the same temporary folder (the same file
/// system, as a hard link needs), never a real system file.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class HandOverTests
{
    private const string VictimText = "root's own secret\n";

    [SkippableFact]
    public void A_copy_out_destination_swapped_for_a_link_once_written_gives_the_caller_nothing_behind_the_link()
    {
        using var arena = new Arena("handover-swap");
        // The victims' tree has the copied item's name: the old hand-over by path re-owned victims/item and walked it.
        var victimFolder = Directory.CreateDirectory(Path.Combine(arena.Victims, "item")).FullName;
        File.Move(arena.VictimFile, Path.Combine(victimFolder, "secret"));
        var victim = Path.Combine(victimFolder, "secret");
        using var remote = arena.SudoEngine();
        var sandbox = arena.SandboxWithHostileTar(remote, "mkdir /item && echo copied > /item/secret",
            // Once the copy's last file is on the host, the destination becomes a link to the victims.
            "while [ ! -s /arena/out/item/secret ]; do sleep 0.05; done; mv /arena/out /arena/out-away && ln -s \"$VICTIMS\" /arena/out");

        ((ISandboxHarness)remote).CopyOutOf(sandbox, "/item", arena.Destination);

        AssertRootsOwn(victimFolder, victim);
        Assert.Equal(VictimText, File.ReadAllText(victim));
        // What the copy made is the caller's all the same, where it really is.
        Assert.Equal(arena.Uid, FileStatus.Of(Path.Combine(arena.Shared, "out-away", "item"))!.Value.Uid);
        Assert.Equal(arena.Uid, FileStatus.Of(Path.Combine(arena.Shared, "out-away", "item", "secret"))!.Value.Uid);
        ((ISandboxHarness)remote).Remove(sandbox);
    }

    [SkippableFact]
    public void A_copied_out_file_the_caller_replaced_by_a_hard_link_to_a_file_of_roots_is_not_given_to_them()
    {
        using var arena = new Arena("handover-copy-link");
        using var hardLinks = ProtectedHardLinks.Off();
        using var remote = arena.SudoEngine();
        var sandbox = arena.SandboxWithHostileTar(remote, "echo copied > /item",
            // Holds the copy open (its hand-over waits for tar's exit) until the caller has made their move.
            "while [ ! -e /arena/go ]; do sleep 0.05; done");

        var copy = Task.Run(() => ((ISandboxHarness)remote).CopyOutOf(sandbox, "/item", arena.Destination));
        var copied = Path.Combine(arena.Destination, "item");
        Assert.True(Poll.Until(() => File.Exists(copied) && new FileInfo(copied).Length > 0, TimeSpan.FromSeconds(60)), "the copy never arrived");
        // The caller's move, as the caller: their destination folder, so they may replace its file.
        arena.AsCaller("rm -f \"$1\" && ln \"$2\" \"$1\"", copied, arena.VictimFile);
        File.WriteAllText(Path.Combine(arena.Shared, "go"), "");
        // The copy must really have ended (a hung or failed copy would prove nothing about its hand-over).
        var outcome = Record.Exception(() => Assert.True(copy.Wait(TimeSpan.FromSeconds(120)), "the copy never finished"));

        AssertRootsOwn(arena.VictimFile);
        Assert.Null(outcome);
        ((ISandboxHarness)remote).Remove(sandbox);
    }

    [SkippableFact]
    public void A_store_file_the_caller_replaced_by_a_hard_link_to_a_file_of_roots_is_refused_not_handed_over()
    {
        // What FileLock does with a lock file it found (O_CREAT opens one that is there) and hands over:
        // the caller made that name a hard link to root's file first. fchownat on the name chowned the victim.
        using var arena = new Arena("handover-store-link");
        using var hardLinks = ProtectedHardLinks.Off();
        var locks = Directory.CreateDirectory(Path.Combine(arena.Path, "store", "locks")).FullName;
        RunAsRoot.Command("chown", "-R", $"{arena.Uid}:{arena.Gid}", Path.Combine(arena.Path, "store"));
        File.SetUnixFileMode(Path.Combine(arena.Path, "store"), (UnixFileMode)0b111_000_000);
        StoreRootGuard.Verify(Path.Combine(arena.Path, "store"), arena.Uid, engineIsRoot: true);
        var lockFile = Path.Combine(locks, "image-app.lock");
        arena.AsCaller("ln \"$1\" \"$2\"", arena.VictimFile, lockFile);
        var caller = new SudoCaller(UnprivilegedUser.Name, (int)arena.Uid, (int)arena.Gid, "/nonexistent");

        var error = Record.Exception(() => caller.HandOver(lockFile));

        AssertRootsOwn(arena.VictimFile);
        Assert.Equal("HandOverRefused", Assert.IsType<SandboxException>(error).ErrorId);
        Assert.Contains("2 hard links", error.Message);
    }

    [SkippableFact]
    public void A_callers_own_file_with_a_second_link_of_theirs_is_accepted_as_already_theirs()
    {
        // The caller's backups (cp -al, rsnapshot) hard-link their own store's lock files: re-owning a file to
        // the owner it already has gives nothing away, so such a lock must not fail every lock under sudo.
        using var arena = new Arena("handover-own-link");
        using var hardLinks = ProtectedHardLinks.Off();
        var mine = Directory.CreateDirectory(Path.Combine(arena.Path, "mine")).FullName;
        RunAsRoot.Command("chown", $"{arena.Uid}:{arena.Gid}", mine);
        var lockFile = Path.Combine(mine, "image-app.lock");
        arena.AsCaller("touch \"$1\" && ln \"$1\" \"$1.backup\"", lockFile);
        var caller = new SudoCaller(UnprivilegedUser.Name, (int)arena.Uid, (int)arena.Gid, "/nonexistent");

        caller.HandOver(lockFile);

        Assert.Equal(arena.Uid, FileStatus.Of(lockFile)!.Value.Uid);
    }

    [SkippableFact]
    public void A_missing_folder_above_the_store_behind_the_callers_link_to_roots_folder_is_not_made_for_them()
    {
        // The reviewer's race, its outcome made deterministic: the caller's ~/.local is (by now) their link to a
        // folder of root's (/usr in the attack), and ~/.local/share is missing. The guard accepts the caller's
        // own link; by path root made <root's folder>/share and chowned it to the caller (in the racing form,
        // the swap after root's mkdir chowned /usr/share itself).
        using var arena = new Arena("handover-parents");
        arena.AsCaller("ln -s \"$1\" \"$2\"", arena.Victims, Path.Combine(arena.Shared, ".local"));
        var store = Path.Combine(arena.Shared, ".local", "share", "sandbox");

        var error = Record.Exception(() =>
        {
            using var remote = new RemoteHarness(asRoot: true, sharedStore: store, environment: new Dictionary<string, string>
            {
                ["SUDO_UID"] = arena.Uid.ToString(CultureInfo.InvariantCulture), ["SUDO_GID"] = arena.Gid.ToString(CultureInfo.InvariantCulture),
                ["SUDO_USER"] = UnprivilegedUser.Name,
            }, storeMissing: true);
            ((ISandboxHarness)remote).Import(HarnessFixture.ImageName, BusyboxTree.Create(Path.Combine(arena.Path, "tree")));
        });

        Assert.Equal(new[] { "secret" }, Directory.GetFileSystemEntries(arena.Victims).Select(Path.GetFileName));
        AssertRootsOwn(arena.Victims, arena.VictimFile);
        Assert.NotNull(error);
        Assert.Contains("root would have to make", Assert.IsType<SandboxException>(error).Message);
    }

    [SkippableFact]
    public void A_missing_folder_above_the_store_in_the_callers_own_folder_is_made_theirs()
    {
        // The usual first use under sudo: ~/.local is theirs, ~/.local/share and the store are made, by descriptor, for them.
        using var arena = new Arena("handover-parents-plain");
        arena.AsCaller("mkdir \"$1\"", Path.Combine(arena.Shared, ".local"));
        var share = Path.Combine(arena.Shared, ".local", "share");
        using var remote = new RemoteHarness(asRoot: true, sharedStore: Path.Combine(share, "sandbox"), environment: new Dictionary<string, string>
        {
            ["SUDO_UID"] = arena.Uid.ToString(CultureInfo.InvariantCulture), ["SUDO_GID"] = arena.Gid.ToString(CultureInfo.InvariantCulture),
            ["SUDO_USER"] = UnprivilegedUser.Name,
        }, storeMissing: true);
        ((ISandboxHarness)remote).Import(HarnessFixture.ImageName, BusyboxTree.Create(Path.Combine(arena.Path, "tree")));

        Assert.Equal(arena.Uid, FileStatus.Of(share)!.Value.Uid);
        Assert.Equal(arena.Uid, FileStatus.Of(Path.Combine(share, "sandbox"))!.Value.Uid);
        Assert.Equal(0b111_000_000u, FileStatus.Of(Path.Combine(share, "sandbox"))!.Value.Permissions & 0b111_111_111);
    }

    [SkippableFact]
    public void An_export_whose_folder_is_swapped_for_a_link_before_it_is_named_gives_and_renames_nothing_behind_the_link()
    {
        // Export-SandboxImage's steps with the caller's move between tar's writing and the naming, where the
        // old code renamed and lchown-ed by path: through the link, root's file of the target's name.
        using var arena = new Arena("handover-export");
        var target = Path.Combine(arena.Destination, "secret.tar");
        File.Move(arena.VictimFile, Path.Combine(arena.Victims, "secret.tar"));
        var victim = Path.Combine(arena.Victims, "secret.tar");
        var caller = new SudoCaller(UnprivilegedUser.Name, (int)arena.Uid, (int)arena.Gid, "/nonexistent");

        using (var export = Sandbox.Images.ExportFile.Create(target, target))
        {
            File.WriteAllText(export.TarPath, "the export\n"); // what root's tar does: write through the held file's name
            arena.AsCaller("mv \"$1\" \"$1-away\" && ln -s \"$2\" \"$1\"", arena.Destination, arena.Victims);
            export.Publish(caller);
        }

        AssertRootsOwn(victim);
        Assert.Equal(VictimText, File.ReadAllText(victim));
        Assert.Equal(new[] { "secret.tar" }, Directory.GetFileSystemEntries(arena.Victims).Select(Path.GetFileName));
        var published = Path.Combine(arena.Destination + "-away", "secret.tar");
        Assert.Equal("the export\n", File.ReadAllText(published));
        Assert.Equal(arena.Uid, FileStatus.Of(published)!.Value.Uid);
    }

    [SkippableFact]
    public void An_export_folder_swapped_while_tar_writes_for_a_link_to_a_hard_link_of_roots_file_gives_the_caller_nothing()
    {
        // The caller sees the partial file's name while root's tar writes it, moves their folder away and
        // puts a link in its place to a folder of theirs where that name is a hard link to root's file. By
        // path the old code renamed that link to the target's name and lchown-ed it: root's file was theirs.
        using var arena = new Arena("handover-export-race");
        using var hardLinks = ProtectedHardLinks.Off();
        var tree = BusyboxTree.Create(Path.Combine(arena.Path, "tree"));
        // Random data xz cannot shrink: seconds of tar, time enough for the caller's move while it writes.
        using (var big = File.Create(Path.Combine(tree, "big")))
        {
            var buffer = new byte[1 << 20];
            for (var i = 0; i < 12; i++) { Random.Shared.NextBytes(buffer); big.Write(buffer); }
        }
        using var remote = arena.SudoEngine(tree);
        var target = Path.Combine(arena.Destination, "secret.tar.xz");

        var export = Task.Run(() => remote.Export(HarnessFixture.ImageName, target));
        string? partial = null;
        Assert.True(Poll.Until(() => (partial = Directory.GetFiles(arena.Destination, ".partial-*").FirstOrDefault()) is not null, TimeSpan.FromSeconds(60)));
        arena.AsCaller("mkdir \"$3\" && ln \"$4\" \"$3/$2\" && mv \"$1\" \"$1-away\" && ln -s \"$3\" \"$1\"",
            arena.Destination, Path.GetFileName(partial!), Path.Combine(arena.Shared, "lure"), arena.VictimFile);
        Assert.False(export.IsCompleted, "tar finished before the caller's move: the race was not won, the test proves nothing");
        var outcome = Record.Exception(() => export.Wait(TimeSpan.FromSeconds(300)));

        AssertRootsOwn(arena.VictimFile);
        Assert.Null(outcome);
        Assert.Equal(arena.Uid, FileStatus.Of(Path.Combine(arena.Destination + "-away", "secret.tar.xz"))!.Value.Uid);
    }

    [SkippableFact]
    public void An_export_under_sudo_is_the_callers_and_compressed_as_its_name_says()
    {
        // tar is told the compressor outright now (it writes to a descriptor's name, which has no suffix).
        using var arena = new Arena("handover-export-formats");
        using var remote = arena.SudoEngine();
        var magic = new Dictionary<string, byte[]>
        {
            ["x.tar.zst"] = new byte[] { 0x28, 0xb5, 0x2f, 0xfd }, ["x.tar.gz"] = new byte[] { 0x1f, 0x8b }, ["x.tgz"] = new byte[] { 0x1f, 0x8b },
            ["x.tar.xz"] = new byte[] { 0xfd, 0x37, 0x7a, 0x58, 0x5a }, ["x.tar"] = "ustar"u8.ToArray(),
        };

        foreach (var (name, bytes) in magic)
        {
            var exported = remote.Export(HarnessFixture.ImageName, Path.Combine(arena.Destination, name));
            var content = File.ReadAllBytes(exported);
            Assert.Equal(bytes, name == "x.tar" ? content[257..262] : content[..bytes.Length]);
            Assert.Equal(arena.Uid, FileStatus.Of(exported)!.Value.Uid);
            Assert.Equal("", RunAsRoot.Command("tar", "-tf", exported, "./bin/busybox").Trim().Replace("./bin/busybox", ""));
        }
        Assert.Equal(magic.Keys.Order(), Directory.GetFileSystemEntries(arena.Destination).Select(Path.GetFileName).Order()); // no partial file left
    }

    [SkippableFact]
    public void Files_and_links_with_one_name_are_still_handed_over_by_their_descriptor()
    {
        using var arena = new Arena("handover-plain");
        var folder = Directory.CreateDirectory(Path.Combine(arena.Path, "mine")).FullName;
        File.WriteAllText(Path.Combine(folder, "file"), "x");
        File.CreateSymbolicLink(Path.Combine(folder, "link"), arena.VictimFile);
        var caller = new SudoCaller(UnprivilegedUser.Name, (int)arena.Uid, (int)arena.Gid, "/nonexistent");

        foreach (var name in new[] { "file", "link", "" }) caller.HandOver(Path.Combine(folder, name));
        caller.HandOver(Path.Combine(folder, "gone")); // nothing there: nothing to do, no error

        foreach (var name in new[] { "file", "link", "" })
            Assert.Equal(arena.Uid, FileStatus.Of(Path.Combine(folder, name))!.Value.Uid);
        AssertRootsOwn(arena.VictimFile); // the link itself, never where it leads
    }

    private static void AssertRootsOwn(params string[] paths)
    {
        foreach (var path in paths)
        {
            var status = FileStatus.Of(path);
            Assert.True(status is not null, $"{path} is gone");
            Assert.True(status!.Value.Uid == 0 && status.Value.Gid == 0, $"{path} outside was given away: it is {status.Value.Uid}:{status.Value.Gid}");
        }
    }

    /// <summary>
    /// A temporary folder with the caller's destination (arena/out/, theirs) and root's victims (victims/, 0755
    /// like /etc, so the caller can name what is in it; victims/secret 0600 like /etc/shadow).
    /// </summary>
    private sealed class Arena : IDisposable
    {
        private readonly TemporaryFolder _folder;

        public Arena(string purpose)
        {
            Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
            UnprivilegedUser.Ensure();
            Uid = uint.Parse(RunAsRoot.Command("id", "-u", UnprivilegedUser.Name).Trim(), CultureInfo.InvariantCulture);
            Gid = uint.Parse(RunAsRoot.Command("id", "-g", UnprivilegedUser.Name).Trim(), CultureInfo.InvariantCulture);
            _folder = new TemporaryFolder(purpose);
            Directory.CreateDirectory(Destination);
            RunAsRoot.Command("chown", $"{Uid}:{Gid}", Shared, Destination); // like their home and a folder in it
            Directory.CreateDirectory(Victims);
            File.SetUnixFileMode(Victims, (UnixFileMode)0b111_101_101);
            File.WriteAllText(VictimFile, VictimText);
            File.SetUnixFileMode(VictimFile, (UnixFileMode)0b110_000_000);
        }

        public string Path => _folder.Path;
        /// <summary>What the sandbox sees at /arena (never the store: a bind holding it is refused).</summary>
        public string Shared => System.IO.Path.Combine(Path, "arena");
        public string Destination => System.IO.Path.Combine(Shared, "out");
        public string Victims => System.IO.Path.Combine(Path, "victims");
        public string VictimFile => System.IO.Path.Combine(Victims, "secret");
        public uint Uid { get; }
        public uint Gid { get; }

        /// <summary>The engine as root under sudo for the caller, in a process of its own (SudoCaller.Current is read once).</summary>
        public RemoteHarness SudoEngine(string? tree = null)
        {
            var remote = new RemoteHarness(asRoot: true, sharedStore: System.IO.Path.Combine(Path, "store"), environment: new Dictionary<string, string>
            {
                ["SUDO_UID"] = Uid.ToString(CultureInfo.InvariantCulture), ["SUDO_GID"] = Gid.ToString(CultureInfo.InvariantCulture),
                ["SUDO_USER"] = UnprivilegedUser.Name,
            });
            ((ISandboxHarness)remote).Import(HarnessFixture.ImageName, tree ?? BusyboxTree.Create(System.IO.Path.Combine(Path, "tree")));
            return remote;
        }

        /// <summary>
        /// A root Bubblewrap sandbox that sees <see cref="Shared"/> at /arena, made with <paramref name="setup"/>,
        /// whose tar (the one Copy-SandboxItem runs) sends the real stream, closes it, then runs <paramref name="move"/>.
        /// </summary>
        public string SandboxWithHostileTar(ISandboxHarness engine, string setup, string move)
        {
            var sandbox = engine.Create(new SandboxCreateOptions
            {
                Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap,
                Mounts = new[] { new BindMount(Shared, "/arena", ReadOnly: false) },
            }).Id;
            var tar = $"#!/bin/sh\n/bin/busybox tar \"$@\"\nexec >&-\nVICTIMS='{Victims}'\n{move}\n";
            var made = engine.Invoke(sandbox, new SandboxCommand
            {
                Argv = new[] { "sh", "-c", setup + " && for t in /bin/tar /usr/bin/tar /usr/local/bin/tar; do mkdir -p ${t%/*}; rm -f $t; printf '%s' \"$1\" > $t; chmod 755 $t; done", "sh", tar },
            });
            Assert.True(made.ExitCode == 0, made.StdErr);
            return sandbox;
        }

        /// <summary>Runs <paramref name="script"/> as the caller (the unprivileged test user), who owns the destination and the store.</summary>
        public void AsCaller(string script, params string[] arguments)
        {
            var start = new ProcessStartInfo("runuser") { RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = "/" };
            foreach (var word in new[] { "-u", UnprivilegedUser.Name, "--", "/bin/sh", "-c", script, "caller" }.Concat(arguments))
                start.ArgumentList.Add(word);
            using var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"the caller's move failed: {stderr}");
        }

        public void Dispose() => _folder.Dispose();
    }

    /// <summary>
    /// fs.protected_hardlinks=0 for the test's duration (restored after): with it on (1, Debian's default)
    /// nobody may hard-link a file they cannot read, and the attack needs a system that allows it.
    /// </summary>
    private sealed class ProtectedHardLinks : IDisposable
    {
        private const string Setting = "/proc/sys/fs/protected_hardlinks";
        private readonly string _old;

        private ProtectedHardLinks(string old) => _old = old;

        public static ProtectedHardLinks Off()
        {
            var old = File.ReadAllText(Setting).Trim();
            RunAsRoot.Command("sysctl", "-w", "fs.protected_hardlinks=0");
            return new ProtectedHardLinks(old);
        }

        public void Dispose() => RunAsRoot.Command("sysctl", "-w", $"fs.protected_hardlinks={_old}");
    }
}
