using Sandbox.Images.Layers;
using Sandbox.Namespaces;
using Sandbox.Native;
using Sandbox.Providers;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Layers;

/// <summary>
/// Plain data of a FakeChroot commit: faked's saved table (its exact line form, as fakeroot 1.31's
/// faked writes and loads it) and the rootless owner mapping a layer's files are given. The save
/// file is in reach of the sandbox's commands: what they put in its place (a link, a FIFO, a huge
/// file) is refused without being followed, opened or read whole, and a faked they stopped makes
/// the save fail instead of waiting for ever.
/// </summary>
[Trait("Area", "Layers")]
public sealed class FakedTableTests
{
    [Fact]
    public void A_line_faked_saved_is_read_with_its_device_type_and_owner()
    {
        // Written by `fakeroot -s` after `mknod d c 1 3` and `chown 1234:2345 a; chmod 4755 a`.
        var device = FakedTable.Parse("dev=fe00,ino=11837523,mode=20644,uid=0,gid=0,nlink=1,rdev=259")!.Value;
        Assert.Equal((0xfe00UL, 11837523UL), (device.Dev, device.Ino));
        Assert.Equal(0x2000u, device.Entry.Mode & 0xF000);
        var setuid = FakedTable.Parse("dev=fe00,ino=11837491,mode=104755,uid=1234,gid=2345,nlink=1,rdev=0")!.Value;
        Assert.Equal(new FakedTable.Entry(0x8000u | 0b100_111_101_101, 1234, 2345), setuid.Entry);
    }

    [Theory]
    [InlineData("")]
    [InlineData("dev=fe00,ino=1,mode=100644,uid=0")]
    [InlineData("dev=zz,ino=1,mode=100644,uid=0,gid=0,nlink=1,rdev=0")]
    [InlineData("dev=fe00,ino=1,mode=100694,uid=0,gid=0,nlink=1,rdev=0")]
    [InlineData("dev=fe00,ino=-1,mode=100644,uid=0,gid=0,nlink=1,rdev=0")]
    public void A_line_not_in_fakeds_form_is_not_read(string line) => Assert.Null(FakedTable.Parse(line));

    [Fact]
    public void A_seeded_line_is_in_fakeds_form_and_reads_back()
    {
        var status = new FileStatus(Mode: 0x8000 | 0b110_100_100, Uid: 1001, Gid: 1001, Size: 1, Blocks: 8, LinkCount: 1,
            DeviceMajor: 254, DeviceMinor: 0, RDevMajor: 0, RDevMinor: 0, Inode: 42);
        var line = FakedTable.Line(status, 1234, 2345);
        Assert.Equal("dev=fe00,ino=42,mode=100644,uid=1234,gid=2345,nlink=1,rdev=0", line);
        Assert.Equal(new FakedTable.Entry(status.Mode, 1234, 2345), FakedTable.Parse(line)!.Value.Entry);
    }

    [Theory]
    [InlineData(254u, 0u, 0xfe00UL)]
    [InlineData(8u, 1u, 0x801UL)]
    [InlineData(259u, 300u, 0x11032cUL)]
    public void Device_numbers_are_glibcs_makedev(uint major, uint minor, ulong expected) =>
        Assert.Equal(expected, FakedTable.DeviceNumber(major, minor));

    [Fact]
    public void Owners_inside_map_to_the_user_and_its_subordinate_ids_and_nothing_else()
    {
        var owners = RootlessOwners.For(1001, new SubordinateIds(100000, 200000, 65536));
        Assert.Equal((0L, 0L), owners.Inside(1001, getegid()));
        Assert.Equal((1234L, 2345L), owners.Inside(101233, 202344));
        Assert.Null(owners.Inside(0, 0));
        Assert.Null(owners.Inside(100000 + 65536, 200000));
        Assert.True(owners.CanHold(65536, 0));
        Assert.False(owners.CanHold(65537, 0));
        var rootOnly = RootlessOwners.For(1001, null);
        Assert.True(rootOnly.CanHold(0, 0));
        Assert.False(rootOnly.CanHold(1234, 0));
    }

    private const string ChownedLine = "dev=fe00,ino=42,mode=100644,uid=1234,gid=2345,nlink=1,rdev=0";

    [Fact]
    public void A_saved_table_is_read_line_by_line()
    {
        using var folder = new TemporaryFolder("faked-table");
        var table = Path.Combine(folder.Path, "fakeroot.db");
        File.WriteAllText(table, ChownedLine + "\n\n" + ChownedLine.Replace("ino=42", "ino=43") + "\n");
        Assert.Equal(2, FakedTable.Read(table, "table").Count);
        Assert.Equal(0, FakedTable.Read(Path.Combine(folder.Path, "none"), "table").Count); // never saved
    }

    [Fact]
    public void A_link_in_the_save_files_place_is_not_followed()
    {
        using var folder = new TemporaryFolder("faked-table");
        var elsewhere = Path.Combine(folder.Path, "elsewhere");
        File.WriteAllText(elsewhere, ChownedLine + "\n");
        var table = Path.Combine(folder.Path, "fakeroot.db");
        File.CreateSymbolicLink(table, elsewhere);
        var error = Assert.Throws<SandboxException>(() => FakedTable.Read(table, "table"));
        Assert.Equal("CommitOwnersUnreadable", error.ErrorId);
        Assert.Contains("not a regular file", error.Message);
    }

    [Fact]
    public void A_FIFO_in_the_save_files_place_is_refused_without_being_opened()
    {
        using var folder = new TemporaryFolder("faked-table");
        var table = Path.Combine(folder.Path, "fakeroot.db");
        Assert.Equal(0, mkfifo(table, 0b110_000_000));
        // A writer waits to feed it a table: a reader that opened the FIFO would get a valid one.
        var writer = new Thread(() =>
        {
            try { File.WriteAllText(table, ChownedLine + "\n"); }
            catch (IOException) { } // the reader went first
        });
        writer.Start();
        try
        {
            var error = Assert.Throws<SandboxException>(() => FakedTable.Read(table, "table"));
            Assert.Equal("CommitOwnersUnreadable", error.ErrorId);
        }
        finally
        {
            // Release the writer: a non-blocking reader lets its open return; then drain what it wrote.
            using (var reader = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(
                       open(table, 0x800 /* O_RDONLY|O_NONBLOCK */), ownsHandle: true), FileAccess.Read, 1))
            {
                writer.Join();
            }
        }
    }

    [Fact]
    public void A_table_beyond_the_bound_is_refused_before_it_is_read()
    {
        using var folder = new TemporaryFolder("faked-table");
        var table = Path.Combine(folder.Path, "fakeroot.db");
        // Sparse: one valid line, then a hole up to one byte past the bound (no disk, no memory).
        using (var file = new FileStream(table, FileMode.CreateNew))
        {
            file.Write(System.Text.Encoding.ASCII.GetBytes(ChownedLine + "\n"));
            file.SetLength(FakedTable.MaxBytes + 1);
        }
        var error = Assert.Throws<SandboxException>(() => FakedTable.Read(table, "table"));
        Assert.Equal("CommitOwnersTableTooLarge", error.ErrorId);
    }

    [Fact]
    public void A_line_far_longer_than_fakeds_is_not_its_form()
    {
        using var folder = new TemporaryFolder("faked-table");
        var table = Path.Combine(folder.Path, "fakeroot.db");
        // Leading zeros parse as the same number: only the length tells it is not faked's line.
        File.WriteAllText(table, ChownedLine.Replace("uid=1234", "uid=" + new string('0', 1000) + "1234") + "\n");
        var error = Assert.Throws<SandboxException>(() => FakedTable.Read(table, "table"));
        Assert.Equal("CommitOwnersUnreadable", error.ErrorId);
    }

    [Fact]
    public void Saving_the_table_of_a_stopped_faked_fails_with_a_timeout_instead_of_waiting_for_ever()
    {
        using var folder = new TemporaryFolder("faked-save");
        var sandbox = new SandboxInfo
        {
            Id = "faked-save", Name = "faked-save", Provider = "FakeChroot", Image = "none",
            Created = DateTimeOffset.UtcNow, StatePath = folder.Path,
        };
        var daemon = FakedDaemon.Ensure(sandbox, new RecordingLog());
        try
        {
            // A process of the sandbox is the user's, as faked is: it can stop it.
            Assert.True(daemon.Process.Signal(19 /* SIGSTOP */));
            var error = Assert.Throws<SandboxException>(() => FakedDaemon.SaveTable(sandbox, new RecordingLog(), timeout: TimeSpan.FromSeconds(2)));
            Assert.Equal("CommitOwnersSaveTimedOut", error.ErrorId);
        }
        finally
        {
            daemon.Process.Signal(18 /* SIGCONT */);
            FakedDaemon.Stop(sandbox); // faked removes its message queues and semaphore
        }
    }

    [Fact]
    public async Task A_chown_still_queued_for_faked_when_its_table_is_saved_is_in_the_saved_table()
    {
        using var folder = new TemporaryFolder("faked-queued");
        var sandbox = new SandboxInfo
        {
            Id = "faked-queued", Name = "faked-queued", Provider = "FakeChroot", Image = "none",
            Created = DateTimeOffset.UtcNow, StatePath = folder.Path,
        };
        var file = Path.Combine(folder.Path, "chowned");
        File.WriteAllText(file, "");
        var daemon = FakedDaemon.Ensure(sandbox, new RecordingLog());
        try
        {
            // perl's chown is chown(2) with both ids, which libfakeroot sends without waiting for an
            // answer. perl asks faked once as it starts (an fstat), so it says when it is past that;
            // then faked is stopped, and the chown returns with its request left in faked's queue.
            var start = new System.Diagnostics.ProcessStartInfo("perl")
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
                Environment =
                {
                    ["LD_LIBRARY_PATH"] = FakeChrootEnvironment.FakerootLibraries,
                    ["LD_PRELOAD"] = "libfakeroot-sysv.so",
                    ["FAKEROOTKEY"] = daemon.Key,
                },
            };
            foreach (var argument in new[] { "-e", "$| = 1; print \"ready\\n\"; <STDIN>; chown(1234, 2345, $ARGV[0]) or die \"chown: $!\";", file })
                start.ArgumentList.Add(argument);
            using (var perl = System.Diagnostics.Process.Start(start)!)
            {
                Assert.Equal("ready", await perl.StandardOutput.ReadLineAsync());
                Assert.True(daemon.Process.Signal(19 /* SIGSTOP */));
                await perl.StandardInput.WriteLineAsync("go");
                perl.StandardInput.Close();
                await perl.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
                Assert.True(perl.ExitCode == 0, await perl.StandardError.ReadToEndAsync());
            }

            var saving = Task.Run(() => FakedDaemon.SaveTable(sandbox, new RecordingLog()));
            // faked resumes with the save signal pending, if the save sent it at once (as it did
            // before it asked faked first), so the handler runs before the queued chown is taken.
            WaitForPendingSignal(daemon.Process.Pid, 10 /* SIGUSR1 */, TimeSpan.FromSeconds(3));
            Assert.True(daemon.Process.Signal(18 /* SIGCONT */));
            var table = FakedTable.Read(await saving.WaitAsync(TimeSpan.FromSeconds(60)), sandbox.Name);

            Assert.Equal(new FakedTable.Entry(FileStatus.Of(file)!.Value.Mode, 1234, 2345), table.Find(FileStatus.Of(file)!.Value));
        }
        finally
        {
            daemon.Process.Signal(18 /* SIGCONT */);
            FakedDaemon.Stop(sandbox);
        }
    }

    /// <summary>Until the process has <paramref name="signal"/> pending (its status's ShdPnd), at most <paramref name="limit"/>.</summary>
    private static void WaitForPendingSignal(int pid, int signal, TimeSpan limit)
    {
        var until = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < until)
        {
            var pending = File.ReadLines($"/proc/{pid}/status").First(line => line.StartsWith("ShdPnd:", StringComparison.Ordinal));
            if ((Convert.ToUInt64(pending["ShdPnd:".Length..].Trim(), 16) & (1UL << (signal - 1))) != 0) return;
            Thread.Sleep(10);
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int mkfifo(string path, uint mode);

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int open(string path, int flags);

    /// <summary>Root inside is the user and the user's own group (unshare --map-root-user).</summary>
    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern uint getegid();
}
