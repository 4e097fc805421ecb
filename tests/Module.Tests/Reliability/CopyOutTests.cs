using System.Formats.Tar;
using Sandbox.Native;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// What Copy-SandboxItem brings out of a sandbox is data: regular files without setuid or setgid
/// bits, folders and downward links, owned by the caller. Not device nodes, FIFOs, hard links or
/// links that lead out of the copy, even when the sandbox replaced its tar with one that emits a
/// crafted stream, and no entry writes through a link another entry made.
/// </summary>
public abstract class CopyOutTests<TFixture> : IClassFixture<TFixture> where TFixture : HarnessFixture
{
    private const uint SetIdBits = 0xE00; // setuid, setgid, sticky
    private readonly TFixture _fixture;

    protected CopyOutTests(TFixture fixture) => _fixture = fixture;

    protected abstract ProviderName Provider { get; }

    private ISandboxHarness Harness
    {
        get
        {
            Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
            return _fixture.Harness;
        }
    }

    private SandboxInfo NewSandbox() => Harness.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = Provider });

    private SandboxCommandResult Sh(SandboxInfo sandbox, string script)
    {
        var result = Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "/bin/sh", "-c", script }, Timeout = TimeSpan.FromSeconds(60) });
        Assert.True(result.ExitCode == 0, $"{script}: {result.StdErr}");
        return result;
    }

    private uint CallerUid => uint.Parse(RunAsRoot.Command("id", "-u", Harness.User).Trim());

    private static TemporaryFolder OutFolder(out string path)
    {
        var host = new TemporaryFolder("copy-out");
        path = Path.Combine(host.Path, "out");
        Directory.CreateDirectory(path);
        RunAsRoot.Command("chmod", "a+rwx", path);
        return host;
    }

    /// <summary>Every entry under <paramref name="folder"/>, never following a link.</summary>
    private static List<(string Path, FileStatus Status)> Walk(string folder)
    {
        var entries = new List<(string, FileStatus)>();
        foreach (var path in Directory.EnumerateFileSystemEntries(folder, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
            entries.Add((path, FileStatus.Of(path)!.Value));
        return entries;
    }

    [SkippableFact]
    public void A_setuid_root_file_comes_out_as_a_plain_file_of_the_caller()
    {
        var harness = Harness;
        using var host = OutFolder(out var outFolder);
        var sandbox = NewSandbox();
        Sh(sandbox, "mkdir -p /root/kit && echo '#!/bin/sh' > /root/kit/suid && chmod 4755 /root/kit/suid && echo data > /root/kit/sgid && chmod 2755 /root/kit/sgid && chmod 3777 /root/kit");

        var copied = harness.CopyOutOf(sandbox.Id, "/root/kit", outFolder);

        var entries = Walk(copied).Append((Path: copied, Status: FileStatus.Of(copied)!.Value)).ToList();
        Assert.Equal(3, entries.Count);
        Assert.All(entries, e => Assert.True((e.Status.Permissions & SetIdBits) == 0, $"{e.Path} has mode {Convert.ToString(e.Status.Permissions, 8)}"));
        Assert.All(entries, e => Assert.Equal(CallerUid, e.Status.Uid));
        Assert.Equal(0x1ED /* 0755 */, (int)FileStatus.Of(Path.Combine(copied, "suid"))!.Value.Permissions);
        Assert.Equal("data\n", File.ReadAllText(Path.Combine(copied, "sgid")));
        harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void A_planted_tar_brings_back_no_devices_fifos_setuid_files_or_escaping_links()
    {
        var harness = Harness;
        using var host = OutFolder(out var outFolder);
        var crafted = Path.Combine(host.Path, "crafted.tar");
        WriteCraftedTar(crafted);
        RunAsRoot.Command("chmod", "a+r", crafted);
        var sandbox = NewSandbox();
        harness.CopyInto(sandbox.Id, crafted, "/root");
        // The sandbox's tar is now a script that ignores its arguments and emits the crafted stream.
        Sh(sandbox, "mkdir -p /usr/local/bin && for t in /bin/tar /usr/bin/tar /usr/local/bin/tar; do rm -f $t; printf '#!/bin/sh\\nexec cat /root/crafted.tar\\n' > $t; chmod 755 $t; done");

        var copied = harness.CopyOutOf(sandbox.Id, "/item", outFolder);

        Assert.Equal(Path.Combine(outFolder, "item"), copied);
        var entries = Walk(outFolder);
        foreach (var (path, status) in entries)
        {
            Assert.True(status.IsRegularFile || status.IsDirectory || status.IsSymbolicLink, $"{path} has type {Convert.ToString(status.Mode, 8)}");
            Assert.True((status.Permissions & SetIdBits) == 0, $"{path} has mode {Convert.ToString(status.Permissions, 8)}");
            Assert.Equal(CallerUid, status.Uid);
            Assert.Equal(1u, status.IsDirectory ? 1u : status.LinkCount);
        }
        Assert.Equal("ok\n", File.ReadAllText(Path.Combine(copied, "ok.txt")));
        Assert.Equal(0x1ED, (int)FileStatus.Of(Path.Combine(copied, "suid"))!.Value.Permissions);
        // Only the downward link came out, and nothing was written through it.
        var links = entries.Where(e => e.Status.IsSymbolicLink).Select(e => Path.GetFileName(e.Path)).ToList();
        Assert.Equal(new[] { "down" }, links);
        Assert.False(File.Exists(Path.Combine(copied, "sub", "through-link")), "an entry was written through a link");
        Assert.False(File.Exists(Path.Combine(host.Path, "escape")));
        Assert.False(File.Exists("/escape-absolute"));
        Assert.DoesNotContain(entries, e => e.Path.Contains("blk") || e.Path.Contains("chr") || e.Path.Contains("fifo") || e.Path.Contains("hard"));
        harness.Remove(sandbox.Id);
    }

    /// <summary>What a hostile tar would emit: devices, a FIFO, setuid root, links out, writes through links, names out.</summary>
    private static void WriteCraftedTar(string path)
    {
        using var file = File.Create(path);
        using var writer = new TarWriter(file, TarEntryFormat.Gnu);
        void Add(TarEntryType type, string name, Action<GnuTarEntry>? set = null, string? content = null, UnixFileMode mode = (UnixFileMode)0x1A4)
        {
            var entry = new GnuTarEntry(type, name) { Mode = mode, Uid = 0, Gid = 0 };
            set?.Invoke(entry);
            if (content is not null) entry.DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content));
            writer.WriteEntry(entry);
        }
        Add(TarEntryType.Directory, "item/", mode: (UnixFileMode)0x1ED);
        Add(TarEntryType.BlockDevice, "item/blk", e => { e.DeviceMajor = 254; e.DeviceMinor = 0; }, mode: (UnixFileMode)0x1B6);
        Add(TarEntryType.CharacterDevice, "item/chr", e => { e.DeviceMajor = 1; e.DeviceMinor = 1; }, mode: (UnixFileMode)0x1B6);
        Add(TarEntryType.Fifo, "item/fifo");
        Add(TarEntryType.RegularFile, "item/suid", content: "#!/bin/sh\nid\n", mode: (UnixFileMode)0x9ED /* 4755 */);
        Add(TarEntryType.HardLink, "item/hard", e => e.LinkName = "item/suid");
        Add(TarEntryType.SymbolicLink, "item/up", e => e.LinkName = "../../../../etc");
        Add(TarEntryType.SymbolicLink, "item/abs", e => e.LinkName = "/etc");
        Add(TarEntryType.RegularFile, "item/abs/escape-through-absolute-link", content: "pwned\n");
        Add(TarEntryType.Directory, "item/sub/", mode: (UnixFileMode)0x1ED);
        Add(TarEntryType.SymbolicLink, "item/down", e => e.LinkName = "sub");
        Add(TarEntryType.RegularFile, "item/down/through-link", content: "pwned\n");
        Add(TarEntryType.RegularFile, "../escape", content: "pwned\n");
        Add(TarEntryType.RegularFile, "/escape-absolute", content: "pwned\n");
        Add(TarEntryType.RegularFile, "item/ok.txt", content: "ok\n");
    }

    [SkippableFact]
    public void A_link_as_the_item_is_refused_and_creates_nothing()
    {
        var harness = Harness;
        using var host = OutFolder(out var outFolder);
        var sandbox = NewSandbox();
        Sh(sandbox, "ln -s /etc/passwd /root/abs && ln -s passwd /etc/rel");

        Assert.Equal("CopyRefused", Assert.Throws<SandboxException>(() => harness.CopyOutOf(sandbox.Id, "/root/abs", outFolder)).ErrorId);
        Assert.Equal("CopyRefused", Assert.Throws<SandboxException>(() => harness.CopyOutOf(sandbox.Id, "/etc/rel", outFolder)).ErrorId);

        Assert.Empty(Directory.EnumerateFileSystemEntries(outFolder));
        harness.Remove(sandbox.Id);
    }
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "Root")]
public sealed class BubblewrapCopyOutAsRoot(RootHarnessFixture fixture) : CopyOutTests<RootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "NonRoot")]
public sealed class BubblewrapCopyOutAsUnprivilegedUser(UserHarnessFixture fixture) : CopyOutTests<UserHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Nspawn")]
[Trait("User", "Root")]
public sealed class NspawnCopyOutAsRoot(RootHarnessFixture fixture) : CopyOutTests<RootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Nspawn;
}
