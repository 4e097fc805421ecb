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
}
