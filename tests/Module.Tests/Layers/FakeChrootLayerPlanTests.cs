using System.Diagnostics;
using Sandbox.Images.Layers;
using Sandbox.Native;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Layers;

/// <summary>
/// What a FakeChroot commit puts in the layer, on plain folders (no sandbox): a parent layer, a copy
/// of it made as the FakeChroot pool makes one (modes and times kept), the moment the copy was
/// taken, then changes made to the copy as a step would. Untouched entries stay out; a folder moved
/// over another, or made anew, is opaque with all it holds; deletions are whiteouts; a device faked
/// recorded refuses the plan.
/// </summary>
[Trait("Area", "Layers")]
public sealed class FakeChrootLayerPlanTests : IDisposable
{
    private readonly TemporaryFolder _folder = new("fc-plan");
    private readonly string _parent;
    private readonly string _farm;
    private readonly long _takenAt;

    public FakeChrootLayerPlanTests()
    {
        _parent = Path.Combine(_folder.Path, "parent");
        _farm = Path.Combine(_folder.Path, "farm");
        Write("data/a/same.txt", "A");
        Write("data/a/keep.txt", "keep");
        Write("data/b/same.txt", "B"); // a's twin in size, time, owner and mode: only the content differs
        Write("data/c/old.txt", "old");
        Write("etc/untouched.conf", "untouched");
        Write("etc/chmodded.conf", "chmodded");
        Run("cp", "-a", _parent, _farm);
        FarmFolders.Record(_farm);
        // The copy is complete before the moment it is taken (as a pool copy always is).
        Thread.Sleep(50);
        var marker = Path.Combine(_folder.Path, "copy-taken");
        File.WriteAllText(marker, "");
        _takenAt = EntryTimes.Of(marker)!.Value.Earliest;
    }

    [Fact]
    public void Untouched_entries_stay_out_and_a_chmod_is_in()
    {
        File.SetUnixFileMode(Path.Combine(_farm, "etc/chmodded.conf"), (UnixFileMode)0b110_000_000);
        var plan = Plan();
        Assert.Equal(new[] { "etc", "etc/chmodded.conf" }, plan.Entries.Select(e => e.Relative));
        Assert.Equal(0b110_000_000u, plan.Entries[1].Permissions);
        Assert.Empty(plan.Whiteouts);
        Assert.Empty(plan.OpaqueFolders);
    }

    [Fact]
    public void A_folder_moved_over_another_is_opaque_with_all_it_holds_even_a_file_equal_in_every_fact_but_content()
    {
        Directory.Delete(Path.Combine(_farm, "data/a"), recursive: true);
        Directory.Move(Path.Combine(_farm, "data/b"), Path.Combine(_farm, "data/a"));
        var plan = Plan();
        // The rename left b's same.txt its old status-change time, and it equals a's in size, time,
        // owner and mode: only the folder's identity tells that data/a is no longer a's.
        Assert.Equal(new[] { "data/a" }, plan.OpaqueFolders);
        Assert.Equal(new[] { "data", "data/a", "data/a/same.txt" }, plan.Entries.Select(e => e.Relative));
        Assert.Equal(new[] { "data/b" }, plan.Whiteouts); // the opaque folder hides a's keep.txt
    }

    [Fact]
    public void A_folder_kept_in_place_is_not_opaque_when_files_are_added_to_it()
    {
        File.WriteAllText(Path.Combine(_farm, "data/a/added.txt"), "added");
        var plan = Plan();
        Assert.Empty(plan.OpaqueFolders);
        Assert.Equal(new[] { "data", "data/a", "data/a/added.txt" }, plan.Entries.Select(e => e.Relative));
    }

    [Fact]
    public void A_copy_without_its_folder_record_is_refused_and_a_damaged_record_is_an_error()
    {
        File.Delete(FarmFolders.FileOf(_farm));
        Assert.Null(FarmFolders.Read(_farm, "plan"));
        File.WriteAllText(FarmFolders.FileOf(_farm), "254 0 notanumber data\0");
        Assert.Equal("CommitFolderRecordUnreadable", Assert.Throws<SandboxException>(() => FarmFolders.Read(_farm, "plan")).ErrorId);
        // A link in the record's place is not followed, whatever it points at.
        var elsewhere = Path.Combine(_folder.Path, "elsewhere.folders");
        FarmFolders.Record(_farm);
        File.Move(FarmFolders.FileOf(_farm), elsewhere);
        File.CreateSymbolicLink(FarmFolders.FileOf(_farm), elsewhere);
        Assert.Equal("CommitFolderRecordUnreadable", Assert.Throws<SandboxException>(() => FarmFolders.Read(_farm, "plan")).ErrorId);
    }

    [Fact]
    public void A_folder_made_anew_over_the_parents_is_opaque_and_everything_under_it_is_in()
    {
        Directory.Delete(Path.Combine(_farm, "data/c"), recursive: true);
        Directory.CreateDirectory(Path.Combine(_farm, "data/c"));
        File.WriteAllText(Path.Combine(_farm, "data/c/new.txt"), "new");
        var plan = Plan();
        Assert.Equal(new[] { "data/c" }, plan.OpaqueFolders);
        Assert.Equal(new[] { "data", "data/c", "data/c/new.txt" }, plan.Entries.Select(e => e.Relative));
        Assert.Empty(plan.Whiteouts); // the opaque folder hides old.txt
    }

    [Fact]
    public void A_device_faked_recorded_refuses_the_plan()
    {
        var fake = Path.Combine(_farm, "etc/untouched.conf");
        var table = Path.Combine(_folder.Path, "fakeroot.db");
        var status = FileStatus.Of(fake)!.Value;
        File.WriteAllText(table, FakedTable.Line(status with { Mode = 0x2000 | 0b110_100_100 }, 0, 0) + "\n");
        var error = Assert.Throws<SandboxException>(() => Plan(FakedTable.Read(table, "plan")));
        Assert.Equal("CommitDeviceNode", error.ErrorId);
        Assert.Contains("/etc/untouched.conf", error.Message);
    }

    [Fact]
    public void An_owner_faked_recorded_beyond_the_users_ids_is_refused_and_one_within_is_kept()
    {
        var chowned = Path.Combine(_farm, "etc/untouched.conf");
        var table = Path.Combine(_folder.Path, "fakeroot.db");
        File.WriteAllText(table, FakedTable.Line(FileStatus.Of(chowned)!.Value, 1234, 2345) + "\n");
        var error = Assert.Throws<SandboxException>(() => Plan(FakedTable.Read(table, "plan")));
        Assert.Equal("CommitOwnerNotMappable", error.ErrorId);

        var plan = Plan(FakedTable.Read(table, "plan"), RootlessOwners.For(0, new Namespaces.SubordinateIds(100000, 100000, 65536)));
        var entry = Assert.Single(plan.Entries, e => e.Relative == "etc/untouched.conf");
        Assert.Equal((1234L, 2345L), (entry.Uid, entry.Gid));
    }

    private FakeChrootLayerPlan Plan(FakedTable? faked = null, RootlessOwners? owners = null) =>
        FakeChrootLayerPlan.Make("plan", _farm, new[] { _parent }, _takenAt, FarmFolders.Read(_farm, "plan")!, faked ?? FakedTable.Empty,
            owners ?? RootlessOwners.For(UserIdentity.EffectiveUid, null), Array.Empty<string>());

    private void Write(string relative, string text)
    {
        var path = Path.Combine(_parent, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        // One time for every file, as a package's files have: only size and owner tell them apart.
        File.SetLastWriteTimeUtc(path, new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc));
    }

    private static void Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program}: {error}");
    }

    public void Dispose() => _folder.Dispose();
}
