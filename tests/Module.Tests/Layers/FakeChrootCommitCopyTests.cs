using System.Diagnostics;
using Sandbox.Images.Layers;
using Sandbox.Native;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Layers;

/// <summary>
/// The copy step of a FakeChroot commit, on plain folders (no sandbox): the plan made from the copy,
/// then the copy changed as a process the step left running could change it, before the tar reads
/// it. A folder swapped for a link to a host folder fails the commit instead of leading the tar
/// there; an untouched copy is copied, links as links with fakechroot's host-path targets written
/// back as the step gave them.
/// </summary>
[Trait("Area", "Layers")]
public sealed class FakeChrootCommitCopyTests : IDisposable
{
    private readonly TemporaryFolder _folder = new("fc-copy");
    private readonly string _farm;
    private readonly FakeChrootLayerPlan _plan;

    public FakeChrootCommitCopyTests()
    {
        var parent = Path.Combine(_folder.Path, "parent");
        _farm = Path.Combine(_folder.Path, "farm");
        Directory.CreateDirectory(Path.Combine(parent, "data"));
        Directory.CreateDirectory(Path.Combine(parent, "etc"));
        File.WriteAllText(Path.Combine(parent, "etc/hostname"), "parent");
        Run("cp", "-a", parent, _farm);
        FarmFolders.Record(_farm);
        Thread.Sleep(50); // the copy is complete before the moment it is taken, as a pool copy always is
        var marker = Path.Combine(_folder.Path, "copy-taken");
        File.WriteAllText(marker, "");
        var takenAt = EntryTimes.Of(marker)!.Value.Earliest;

        // The step's writes: a file, and an absolute link as fakechroot writes it (the copy's host path in front).
        File.WriteAllText(Path.Combine(_farm, "data/added.txt"), "the step's");
        File.CreateSymbolicLink(Path.Combine(_farm, "data/hostname"), RealPath.Of(_farm) + "/etc/hostname");
        _plan = FakeChrootLayerPlan.Make("copy", _farm, new[] { parent }, takenAt, FarmFolders.Read(_farm, "copy")!,
            FakedTable.Empty, RootlessOwners.For(UserIdentity.EffectiveUid, null), Array.Empty<string>());
        Assert.Contains("data/added.txt", _plan.Entries.Select(e => e.Relative));
    }

    [Fact]
    public void An_untouched_copy_is_copied_with_its_links_as_the_step_gave_them()
    {
        var tree = Copy("layer");
        Assert.Equal("the step's", File.ReadAllText(Path.Combine(tree, "data/added.txt")));
        Assert.Equal("/etc/hostname", new FileInfo(Path.Combine(tree, "data/hostname")).LinkTarget);
        Assert.False(Directory.Exists(Path.Combine(_folder.Path, "layer", "fakechroot-commit")), "the work folder is removed");
    }

    [Fact]
    public void A_folder_swapped_for_a_link_after_the_plan_fails_the_commit_and_nothing_is_read_through_it()
    {
        // What a leftover process could do between the plan and the tar: data is now a link to a host
        // folder holding a file of the planned name.
        var host = Path.Combine(_folder.Path, "host");
        Directory.CreateDirectory(host);
        File.WriteAllText(Path.Combine(host, "added.txt"), "a host file");
        Directory.Move(Path.Combine(_farm, "data"), Path.Combine(_farm, "data-moved"));
        File.CreateSymbolicLink(Path.Combine(_farm, "data"), host);

        var tree = Path.Combine(_folder.Path, "swapped", "tree");
        var error = Assert.Throws<SandboxException>(() => Copy("swapped"));
        Assert.Equal("CommitCopyChanged", error.ErrorId);
        // The tar archived the link itself (as a link) and read nothing through it.
        var copied = Sandbox.Storage.TreeWalker.Walk(tree).Where(e => e.Status.IsRegularFile)
            .Select(e => File.ReadAllText(Path.Combine(tree, e.Relative))).ToList();
        Assert.DoesNotContain("a host file", copied);
        Assert.Equal("a host file", File.ReadAllText(Path.Combine(host, "added.txt")));
    }

    private string Copy(string name)
    {
        var tree = Path.Combine(_folder.Path, name, "tree");
        Directory.CreateDirectory(Path.GetDirectoryName(tree)!);
        FakeChrootCommit.CopyPlanned("copy", _farm, _plan, tree, "Committing", new RecordingLog(), CancellationToken.None);
        return tree;
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
