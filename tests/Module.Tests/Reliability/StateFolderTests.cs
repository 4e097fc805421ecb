using Sandbox.Sandboxes;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Files the engine makes in a sandbox's state folder are made through a descriptor of that folder
/// reached from the store root without links: a state folder (or its running/) swapped for a link
/// into another folder, as a sudo caller who owns the store's folders could, gets nothing written
/// there. Plain folders and files: no sandbox runs.
/// </summary>
[Trait("Area", "Reliability")]
public sealed class StateFolderTests
{
    /// <summary>A store folder holding one sandbox's state folder, and a folder outside it for links to point at.</summary>
    private sealed class Layout : IDisposable
    {
        public Layout(string name)
        {
            Store = new TemporaryFolder(name);
            State = Path.Combine(Store.Path, "sandboxes", "0123456789ab");
            Directory.CreateDirectory(State);
            Victim = new TemporaryFolder(name + "-victim");
        }

        public TemporaryFolder Store { get; }
        public string State { get; }
        public TemporaryFolder Victim { get; }

        public void Dispose()
        {
            Store.Dispose();
            Victim.Dispose();
        }
    }

    [Fact]
    public void Totals_go_into_the_real_state_folder_and_never_through_a_swapped_link()
    {
        using var layout = new Layout("state-totals");
        var (store, state, victim) = (layout.Store, layout.State, layout.Victim);
        var totals = new CommandTotals(3, TimeSpan.FromSeconds(1), TimeSpan.Zero, 4096);
        Assert.True(totals.TryWrite(store.Path, state));
        Assert.Equal(totals, CommandTotals.Read(state));

        Directory.Move(state, state + ".real");
        Directory.CreateSymbolicLink(state, victim.Path);

        Assert.False(totals.TryWrite(store.Path, state));
        Assert.Empty(Directory.GetFileSystemEntries(victim.Path));
    }

    [Fact]
    public void A_state_folder_outside_the_store_or_reached_through_a_link_above_it_is_not_opened()
    {
        using var layout = new Layout("state-open");
        var (store, state, victim) = (layout.Store, layout.State, layout.Victim);
        var fd = StateFolder.Open(store.Path, state);
        Assert.True(fd >= 0);
        Native.OpenAt2.close(fd);
        Assert.Equal(-1, StateFolder.Open(store.Path, victim.Path));
        Assert.Equal(-1, StateFolder.Open(store.Path, Path.Combine(store.Path, "..", Path.GetFileName(victim.Path))));

        var sandboxes = Path.Combine(store.Path, "sandboxes");
        Directory.Move(sandboxes, sandboxes + ".real");
        Directory.CreateSymbolicLink(sandboxes, sandboxes + ".real");
        Assert.Equal(-1, StateFolder.Open(store.Path, state));
    }

    [Fact]
    public void Own_files_are_regular_single_linked_and_ours()
    {
        using var layout = new Layout("state-own");
        var (store, state, victim) = (layout.Store, layout.State, layout.Victim);
        var folder = StateFolder.Open(store.Path, state);
        try
        {
            var fd = StateFolder.OpenOwnFile(folder, "made", sudoCallersToo: false);
            Assert.True(fd >= 0);
            Native.OpenAt2.close(fd);
            File.CreateSymbolicLink(Path.Combine(state, "link"), Path.Combine(victim.Path, "target"));
            Assert.Equal(-1, StateFolder.OpenOwnFile(folder, "link", sudoCallersToo: false));
            Assert.False(File.Exists(Path.Combine(victim.Path, "target")));
            File.WriteAllText(Path.Combine(victim.Path, "hardlinked"), "x");
            Assert.Equal(0, Link(Path.Combine(victim.Path, "hardlinked"), Path.Combine(state, "second-name")));
            Assert.Equal(-1, StateFolder.OpenOwnFile(folder, "second-name", sudoCallersToo: false));
        }
        finally
        {
            Native.OpenAt2.close(folder);
        }
    }

    [Fact]
    public void A_record_is_written_over_the_start_of_its_file_and_a_failed_write_names_what_it_wrote()
    {
        using var layout = new Layout("state-write");
        var (store, state) = (layout.Store, layout.State);
        File.WriteAllText(Path.Combine(state, "record"), "0123456789");
        var folder = StateFolder.Open(store.Path, state);
        try
        {
            var fd = StateFolder.OpenOwnFile(folder, "record", sudoCallersToo: false);
            try
            {
                Assert.True(StateFolder.TryWriteWhole(fd, "ab"u8.ToArray()));
                StateFolder.WriteWhole(fd, "c"u8.ToArray(), "the record");
            }
            finally
            {
                Native.OpenAt2.close(fd);
            }
            Assert.Equal("cb23456789", File.ReadAllText(Path.Combine(state, "record"))); // in place, never truncated

            // The folder's O_PATH descriptor takes no write (EBADF).
            Assert.False(StateFolder.TryWriteWhole(folder, "x"u8.ToArray()));
            var failure = Assert.Throws<IOException>(() => StateFolder.WriteWhole(folder, "x"u8.ToArray(), "the record"));
            Assert.StartsWith("writing the record failed: ", failure.Message);
            Assert.Equal(9 /* EBADF */, failure.HResult);
        }
        finally
        {
            Native.OpenAt2.close(folder);
        }
    }

    [Fact]
    public void Untrusted_reads_take_regular_files_only()
    {
        using var folder = new TemporaryFolder("untrusted-read");
        var file = Path.Combine(folder.Path, "file");
        File.WriteAllText(file, "data");
        File.CreateSymbolicLink(Path.Combine(folder.Path, "link"), file);
        Assert.Equal(0, MkFifo(Path.Combine(folder.Path, "fifo"), 0b110_000_000));

        Assert.Equal("data"u8.ToArray(), Storage.UntrustedFile.ReadRegular(file, 64));
        Assert.Null(Storage.UntrustedFile.ReadRegular(file, 3));
        Assert.Null(Storage.UntrustedFile.ReadRegular(Path.Combine(folder.Path, "link"), 64));
        Assert.Null(Storage.UntrustedFile.ReadRegular(Path.Combine(folder.Path, "fifo"), 64));
        Assert.Null(Storage.UntrustedFile.ReadRegular("/dev/null", 64));
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int link(string existing, string created);

    private static int Link(string existing, string created) => link(existing, created);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int MkFifo(string path, uint mode);
}
