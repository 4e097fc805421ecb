using System.Formats.Tar;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>The copy-out unpacker on crafted streams alone, without a sandbox: plain data in, plain data out.</summary>
[Trait("Area", "Reliability")]
public sealed class UntrustedTarExtractorTests
{
    private static MemoryStream Tar(params TarEntry[] entries)
    {
        var stream = new MemoryStream();
        using (var writer = new TarWriter(stream, TarEntryFormat.Gnu, leaveOpen: true))
            foreach (var entry in entries) writer.WriteEntry(entry);
        stream.Position = 0;
        return stream;
    }

    private static GnuTarEntry File(string name, string content)
    {
        var entry = new GnuTarEntry(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)0x1A4 };
        entry.DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content));
        return entry;
    }

    private static GnuTarEntry Link(string name, string target) => new(TarEntryType.SymbolicLink, name) { LinkName = target };

    [Fact]
    public void A_link_already_in_the_destination_is_never_written_through()
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = Directory.CreateDirectory(Path.Combine(scratch.Path, "out")).FullName;
        var victim = Directory.CreateDirectory(Path.Combine(scratch.Path, "victim")).FullName;
        System.IO.File.CreateSymbolicLink(Path.Combine(destination, "item"), victim);

        var result = UntrustedTarExtractor.Extract(Tar(File("item/x", "pwned")), destination, "item");

        Assert.Empty(Directory.EnumerateFileSystemEntries(victim));
        Assert.False(result.ItemCreated);
        Assert.Single(result.Skipped);
    }

    [SkippableFact]
    [Trait("User", "Root")]
    public void Under_sudo_what_the_copy_makes_is_given_to_the_caller_links_not_their_targets_and_nothing_that_was_there()
    {
        // What HandOverTree did after the copy, by path, now happens as each entry is made, by descriptor.
        Skip.If(Environment.UserName != "root", "changing owners needs root; run the tests as root (CI does).");
        UnprivilegedUser.Ensure();
        var uid = int.Parse(RunAsRoot.Command("id", "-u", UnprivilegedUser.Name).Trim());
        var gid = int.Parse(RunAsRoot.Command("id", "-g", UnprivilegedUser.Name).Trim());
        using var scratch = new TemporaryFolder("untar-handover");
        var destination = Directory.CreateDirectory(Path.Combine(scratch.Path, "out")).FullName;
        var before = Directory.CreateDirectory(Path.Combine(destination, "item", "old")).FullName;

        UntrustedTarExtractor.Extract(Tar(Folder("item/"), Folder("item/sub/"), File("item/sub/f", "x"), Link("item/sub/to-f", "f")),
            destination, "item", giveTo: new Sandbox.Native.SudoCaller(UnprivilegedUser.Name, uid, gid, "/nonexistent"));

        foreach (var made in new[] { "item/sub", "item/sub/f", "item/sub/to-f" })
            Assert.Equal((uint)uid, Sandbox.Native.FileStatus.Of(Path.Combine(destination, made))!.Value.Uid);
        Assert.Equal("x", System.IO.File.ReadAllText(Path.Combine(destination, "item", "sub", "to-f")));
        // item/ and item/old were there before the copy: not the copy's to give away.
        Assert.Equal(0u, Sandbox.Native.FileStatus.Of(Path.Combine(destination, "item"))!.Value.Uid);
        Assert.Equal(0u, Sandbox.Native.FileStatus.Of(before)!.Value.Uid);
    }

    [Fact]
    public void A_file_after_a_link_of_the_same_name_replaces_the_link_and_writes_nothing_through_it()
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = Directory.CreateDirectory(Path.Combine(scratch.Path, "out")).FullName;

        UntrustedTarExtractor.Extract(Tar(
            new GnuTarEntry(TarEntryType.Directory, "item/") { Mode = (UnixFileMode)0x1ED },
            Link("item/a", "b"), File("item/a", "data")), destination, "item");

        Assert.Null(new FileInfo(Path.Combine(destination, "item", "a")).LinkTarget);
        Assert.Equal("data", System.IO.File.ReadAllText(Path.Combine(destination, "item", "a")));
        Assert.False(System.IO.File.Exists(Path.Combine(destination, "item", "b")));
    }

    [Fact]
    public void A_tree_deeper_than_the_bound_is_refused()
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = Directory.CreateDirectory(Path.Combine(scratch.Path, "out")).FullName;
        var deep = "item/" + string.Join('/', Enumerable.Repeat("d", UntrustedTarExtractor.MaxDepth)) + "/f";

        var error = Assert.Throws<SandboxException>(() => UntrustedTarExtractor.Extract(Tar(File(deep, "x")), destination, "item"));

        Assert.Equal("CopyFailed", error.ErrorId);
    }

    internal static readonly CopyOutLimits Generous = new(long.MaxValue, CopyOutLimits.DefaultMaxEntries);

    internal static string NewDestination(TemporaryFolder scratch) => Directory.CreateDirectory(Path.Combine(scratch.Path, "out")).FullName;

    /// <summary>Runs the extractor on the current thread and says how much it allocated: a bound on its memory.</summary>
    private static (SandboxException Error, long AllocatedBytes) FailsWith(Stream tar, string destination, CopyOutLimits limits)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<SandboxException>(() => UntrustedTarExtractor.Extract(tar, destination, "item", limits));
        return (error, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static GnuTarEntry Folder(string name) => new(TarEntryType.Directory, name) { Mode = (UnixFileMode)0x1ED };

    [Fact]
    public void More_entries_than_the_bound_stop_the_copy_with_an_error_naming_the_bound()
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = NewDestination(scratch);
        var entries = new List<TarEntry> { Folder("item/") };
        for (var i = 0; i < 20; i++) entries.Add(File($"item/f{i}", "x"));

        var (error, _) = FailsWith(Tar(entries.ToArray()), destination, new CopyOutLimits(long.MaxValue, 10));

        Assert.Equal("CopyOutTooLarge", error.ErrorId);
        Assert.Contains("10 entries", error.Message);
        Assert.Contains("left there, incomplete", error.Message);
        Assert.True(Directory.GetFiles(Path.Combine(destination, "item")).Length < 10);
    }

    [Fact]
    public void More_bytes_than_the_bound_stop_the_copy_with_an_error_naming_the_bound()
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = NewDestination(scratch);
        var entries = new List<TarEntry> { Folder("item/") };
        for (var i = 0; i < 40; i++) entries.Add(File($"item/f{i}", new string('x', 4000)));

        var (error, _) = FailsWith(Tar(entries.ToArray()), destination, new CopyOutLimits(64 * 1024, 1000, "a test's bound"));

        Assert.Equal("CopyOutTooLarge", error.ErrorId);
        Assert.Contains("65536 bytes (a test's bound)", error.Message);
        var written = Directory.GetFiles(Path.Combine(destination, "item")).Sum(f => new FileInfo(f).Length);
        Assert.True(written <= 64 * 1024, $"{written} bytes were written past a bound of 64 KiB");
    }

    [Fact]
    public void A_size_beyond_the_bound_is_refused_before_a_byte_is_written()
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = NewDestination(scratch);
        var stream = new MemoryStream(CraftedTar.Header("item", 1L << 62).Concat(new byte[64 * 1024]).ToArray());

        var (error, _) = FailsWith(stream, destination, new CopyOutLimits(1L << 40, 1000));

        Assert.Equal("CopyOutTooLarge", error.ErrorId);
        Assert.Contains($"announces {1L << 62} bytes", error.Message);
        Assert.Contains("Nothing was written", error.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(destination));
    }

    [Fact]
    public void A_stream_cut_in_the_middle_of_a_file_is_an_error_that_says_what_was_written()
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = NewDestination(scratch);
        var whole = Tar(Folder("item/"), File("item/a", "first"), File("item/b", new string('b', 100_000))).ToArray();
        var cut = new MemoryStream(whole[..(whole.Length / 2)]);

        var (error, _) = FailsWith(cut, destination, Generous);

        Assert.Equal("CopyOutDamaged", error.ErrorId);
        Assert.Contains("ends before the archive does", error.Message);
        Assert.Contains($"had been written under '{Path.Combine(destination, "item")}'", error.Message);
        Assert.Equal("first", System.IO.File.ReadAllText(Path.Combine(destination, "item", "a")));
    }

    [Fact]
    public void Data_after_the_end_of_the_archive_is_an_error_not_ignored()
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = NewDestination(scratch);
        var archive = Tar(File("item", "data")).ToArray();
        var stream = new MemoryStream(archive.Concat(new byte[4096]).Concat("more entries a reader would skip"u8.ToArray()).ToArray());

        var (error, _) = FailsWith(stream, destination, Generous);

        Assert.Equal("CopyOutDamaged", error.ErrorId);
        Assert.Contains("after the end of the archive", error.Message);
    }

    [Fact]
    public void Tar_padding_after_the_end_of_the_archive_is_accepted()
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = NewDestination(scratch);
        var archive = Tar(File("item", "data")).ToArray();

        var result = UntrustedTarExtractor.Extract(new MemoryStream(archive.Concat(new byte[10240]).ToArray()), destination, "item", Generous);

        Assert.True(result.ItemCreated);
        Assert.Equal("data", System.IO.File.ReadAllText(Path.Combine(destination, "item")));
    }

    [Fact]
    public void Garbage_is_an_error_after_its_first_block()
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = NewDestination(scratch);
        var garbage = new MemoryStream(Enumerable.Repeat("y\n"u8.ToArray(), 64 * 1024).SelectMany(b => b).ToArray());

        var (error, _) = FailsWith(garbage, destination, Generous);

        Assert.Equal("CopyOutDamaged", error.ErrorId);
        Assert.True(garbage.Position <= 64 * 1024, $"{garbage.Position} bytes of garbage were read before it was refused");
        Assert.Empty(Directory.EnumerateFileSystemEntries(destination));
    }

    [Fact]
    public void A_huge_file_is_written_in_chunks_never_held_in_memory()
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = NewDestination(scratch);
        const long size = 64L * 1024 * 1024;
        var stream = new MemoryStream(Tar(new GnuTarEntry(TarEntryType.RegularFile, "item")
        {
            Mode = (UnixFileMode)0x1A4, DataStream = new MemoryStream(new byte[size]),
        }).ToArray());

        var before = GC.GetAllocatedBytesForCurrentThread();
        UntrustedTarExtractor.Extract(stream, destination, "item", Generous);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(size, new FileInfo(Path.Combine(destination, "item")).Length);
        Assert.True(allocated < 4 * 1024 * 1024, $"copying {size} bytes allocated {allocated} bytes");
    }

    [Fact]
    public void A_long_name_entry_announcing_a_gigabyte_is_refused_without_allocating_it()
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = NewDestination(scratch);
        var stream = new MemoryStream(CraftedTar.Header("././@LongLink", 1L << 30, type: 'L').Concat(new byte[64 * 1024]).ToArray());

        var (error, allocated) = FailsWith(stream, destination, Generous);

        Assert.Equal("CopyOutDamaged", error.ErrorId);
        Assert.True(allocated < 16 * 1024 * 1024, $"a crafted long name made the extractor allocate {allocated} bytes");
        Assert.Empty(Directory.EnumerateFileSystemEntries(destination));
    }

    [Fact]
    public void An_endless_run_of_metadata_headers_is_refused_early()
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = NewDestination(scratch);
        var stream = new MemoryStream(Enumerable.Range(0, 1000).SelectMany(_ => CraftedTar.Header("pax_global_header", 0, type: 'g')).ToArray());

        var (error, _) = FailsWith(stream, destination, Generous);

        Assert.Equal("CopyOutDamaged", error.ErrorId);
        Assert.Contains("metadata headers", error.Message);
        Assert.True(stream.Position < 100 * 512, $"{stream.Position / 512} metadata headers were read");
    }

    /// <summary>What the host's GNU tar writes in each format it knows comes out whole: long names (GNU 'L', pax path, ustar prefix), links, modes.</summary>
    [Theory]
    [InlineData("gnu")]
    [InlineData("posix")]
    [InlineData("ustar")]
    [InlineData("v7")]
    public void Every_format_of_gnu_tar_comes_out_whole(string format)
    {
        using var scratch = new TemporaryFolder("untar");
        var source = Path.Combine(scratch.Path, "src");
        var deep = Path.Combine(source, "item", new string('d', 60), new string('e', 60));
        Directory.CreateDirectory(deep);
        var longFile = Path.Combine(deep, new string('f', 90));
        var content = new byte[300_000];
        Random.Shared.NextBytes(content);
        System.IO.File.WriteAllBytes(longFile, content);
        System.IO.File.SetUnixFileMode(longFile, (UnixFileMode)0x1E4 /* 0744 */);
        System.IO.File.WriteAllText(Path.Combine(source, "item", "empty"), "");
        System.IO.File.CreateSymbolicLink(Path.Combine(source, "item", "to-deep"), new string('d', 60));
        var destination = NewDestination(scratch);

        var tar = new System.Diagnostics.ProcessStartInfo("tar") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var word in new[] { "-c", "-f", "-", $"--format={format}", "-C", source, "--", "item" }) tar.ArgumentList.Add(word);
        using var process = System.Diagnostics.Process.Start(tar)!;
        var result = UntrustedTarExtractor.Extract(process.StandardOutput.BaseStream, destination, "item", Generous);
        process.WaitForExit();

        var relative = Path.GetRelativePath(source, longFile);
        if (format == "v7")
        {
            // v7 has no room for a 213-character name: tar says so and leaves the file out.
            Assert.NotEqual(0, process.ExitCode);
            Assert.False(System.IO.File.Exists(Path.Combine(destination, relative)));
        }
        else
        {
            Assert.Equal(0, process.ExitCode);
            Assert.Equal(content, System.IO.File.ReadAllBytes(Path.Combine(destination, relative)));
            Assert.Equal((UnixFileMode)0x1E4, System.IO.File.GetUnixFileMode(Path.Combine(destination, relative)));
        }
        Assert.True(result.ItemCreated);
        Assert.Equal(new string('d', 60), new FileInfo(Path.Combine(destination, "item", "to-deep")).LinkTarget);
        Assert.Equal(0, new FileInfo(Path.Combine(destination, "item", "empty")).Length);
    }

    /// <summary>
    /// A NUL inside a pax path or link target: the check would read the whole string, the kernel
    /// only up to the NUL ('..\0/x' is checked as downward, created as '..'). The stream is damaged.
    /// </summary>
    [Theory]
    [InlineData("linkpath", "..\0/x", "item/up")]
    [InlineData("path", "item/up/..\0", "item/up")]
    [InlineData("path", "item/a\0/../../x", "item/up")]
    public void A_nul_in_a_pax_name_or_link_target_is_a_damaged_stream_and_nothing_is_created(string key, string value, string headerName)
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = NewDestination(scratch);
        var stream = new MemoryStream(CraftedTar.Pax((key, value)).Concat(CraftedTar.Header(headerName, 0, '2')).Concat(CraftedTar.End()).ToArray());

        var (error, _) = FailsWith(stream, destination, Generous);

        Assert.Equal("CopyOutDamaged", error.ErrorId);
        Assert.Contains("NUL", error.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(destination));
    }

    /// <summary>Extended attribute values are raw bytes (an SELinux label ends with a NUL): they are not names, and an honest stream holding one is taken.</summary>
    [Fact]
    public void A_nul_in_an_extended_attribute_value_is_not_taken_for_a_cut_name()
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = NewDestination(scratch);
        var stream = new MemoryStream(CraftedTar.Pax(("SCHILY.xattr.security.selinux", "system_u:object_r:etc_t:s0\0"))
            .Concat(CraftedTar.Header("item", 0)).Concat(CraftedTar.End()).ToArray());

        var result = UntrustedTarExtractor.Extract(stream, destination, "item", Generous);

        Assert.True(result.ItemCreated);
        Assert.True(System.IO.File.Exists(Path.Combine(destination, "item")));
    }

    /// <summary>20,000 new folders 251 deep: the names are long, the stream is 40 MB.</summary>
    internal static MemoryStream DeepFolders(int count)
    {
        var chain = "item/" + string.Join('/', Enumerable.Repeat("d", UntrustedTarExtractor.MaxDepth - 6));
        var entries = new List<TarEntry> { Folder("item/") };
        for (var i = 0; i < count; i++) entries.Add(Folder($"{chain}/f{i}/"));
        return Tar(entries.ToArray());
    }


    /// <summary>
    /// The work is linear in the entries: each entry's parent is opened from the last one's, not walked
    /// from the destination down (the old walk: 251 opens per entry, 5 million here, 250 million for a million entries).
    /// </summary>
    [Fact]
    public void Many_deep_folders_cost_a_few_folder_opens_each_not_a_walk_from_the_top()
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = NewDestination(scratch);

        var result = UntrustedTarExtractor.Extract(DeepFolders(20_000), destination, "item", Generous);

        Assert.True(result.FolderOpens <= 2 * result.Entries + UntrustedTarExtractor.MaxDepth,
            $"{result.FolderOpens} folder opens for {result.Entries} entries");
    }

    /// <summary>A million skipped entries are counted, not listed.</summary>
    [Fact]
    public void Skipped_entries_are_counted_and_only_the_first_are_listed()
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = NewDestination(scratch);
        var entries = new List<TarEntry> { Folder("item/") };
        for (var i = 0; i < 1000; i++) entries.Add(Link($"item/l{i}", "/etc/passwd"));

        var result = UntrustedTarExtractor.Extract(Tar(entries.ToArray()), destination, "item", Generous);

        Assert.Equal(1000, result.SkippedCount);
        Assert.Equal(UntrustedTarExtractor.MaxSkippedListed, result.Skipped.Count);
        Assert.Equal("item/l0", result.Skipped[0].Name);
    }

    private static uint Umask() => Convert.ToUInt32(System.IO.File.ReadLines("/proc/self/status")
        .Single(l => l.StartsWith("Umask:")).Split(':')[1].Trim(), 8);

    /// <summary>
    /// A 0777 entry comes out as 0777 less the umask, as GNU tar makes it for non-root: never
    /// writable by group or other unless the umask allows (under sudo the tree is handed to the user as it is).
    /// </summary>
    [Fact]
    public void Modes_from_the_stream_are_narrowed_by_the_umask()
    {
        var umask = Umask();
        Assert.True((umask & 0x12) != 0, $"this test needs a umask withholding group or other write; it is {Convert.ToString(umask, 8)}");
        using var scratch = new TemporaryFolder("untar");
        var destination = NewDestination(scratch);
        var open = (UnixFileMode)0x1FF;
        var file = File("item/implicit/file", "x");
        file.Mode = open;

        UntrustedTarExtractor.Extract(Tar(new GnuTarEntry(TarEntryType.Directory, "item/") { Mode = open }, file), destination, "item", Generous);

        Assert.Equal((UnixFileMode)(0x1FF & ~umask), System.IO.File.GetUnixFileMode(Path.Combine(destination, "item", "implicit", "file")));
        Assert.Equal((UnixFileMode)((0x1FF & ~umask) | 0x1C0), System.IO.File.GetUnixFileMode(Path.Combine(destination, "item")));
        Assert.Equal((UnixFileMode)((0x1ED & ~umask) | 0x1C0), System.IO.File.GetUnixFileMode(Path.Combine(destination, "item", "implicit")));
    }
}
