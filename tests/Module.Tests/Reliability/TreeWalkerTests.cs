using Sandbox.Native;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>The descriptor walk on plain trees: deeper than the descriptors it keeps open, links, and re-owning.</summary>
[Trait("Area", "Reliability")]
public sealed class TreeWalkerTests
{
    /// <summary>300 levels: more than the 64 folders the walk keeps open, so it reopens ancestors as "..".</summary>
    [Fact]
    public void Walks_a_tree_deeper_than_the_descriptors_it_keeps_open()
    {
        using var folder = new TemporaryFolder("walk-deep");
        var path = folder.Path;
        for (var i = 0; i < 300; i++) path = Path.Combine(path, "d");
        Directory.CreateDirectory(path);
        File.WriteAllText(Path.Combine(path, "bottom"), "x");
        File.WriteAllText(Path.Combine(folder.Path, "d", "top"), "x");

        var entries = TreeWalker.Walk(folder.Path).ToDictionary(e => e.Relative, e => e.Status);

        Assert.Equal(302, entries.Count);
        Assert.True(entries[string.Join('/', Enumerable.Repeat("d", 300)) + "/bottom"].IsRegularFile);
        Assert.True(entries["d/top"].IsRegularFile);
        Assert.True(entries[string.Join('/', Enumerable.Repeat("d", 150))].IsDirectory);
    }

    /// <summary>
    /// A command racing the walk moves a folder whose descriptor the walk had to close (100 levels,
    /// more than the 64 it keeps open): going back up through ".." no longer reaches the folder it
    /// came from, and the walk says so instead of ending quietly with part of the tree.
    /// </summary>
    [Fact]
    public void A_folder_moved_during_the_walk_is_an_error_not_a_partial_list()
    {
        using var folder = new TemporaryFolder("walk-moved");
        var path = folder.Path;
        for (var i = 0; i < 100; i++) path = Path.Combine(path, "d");
        Directory.CreateDirectory(path);
        File.WriteAllText(Path.Combine(path, "bottom"), "x");
        File.WriteAllText(Path.Combine(folder.Path, "zz-listed-after-the-deep-branch"), "x");
        var bottom = string.Join('/', Enumerable.Repeat("d", 100)) + "/bottom";
        var level20 = Path.Combine(folder.Path, string.Join('/', Enumerable.Repeat("d", 20)));

        var seen = new List<string>();
        var error = Assert.Throws<SandboxException>(() =>
        {
            foreach (var (relative, _) in TreeWalker.Walk(folder.Path))
            {
                seen.Add(relative);
                // Level 21's descriptor is long closed here; it now sits at the root, so its ".." is the root, not level 20.
                if (relative == bottom) Directory.Move(Path.Combine(level20, "d"), Path.Combine(folder.Path, "moved"));
            }
        });

        Assert.Equal("TreeChangedDuringWalk", error.ErrorId);
        Assert.Equal(SandboxErrorKind.InvalidOperation, error.Kind);
        Assert.Contains(folder.Path, error.Message);
        Assert.Contains(bottom, seen); // the move really happened mid-walk
    }

    [Fact]
    public void Reports_links_as_links_and_never_lists_what_they_point_to()
    {
        using var folder = new TemporaryFolder("walk-links");
        var tree = Path.Combine(folder.Path, "tree");
        var host = Path.Combine(folder.Path, "host");
        Directory.CreateDirectory(tree);
        Directory.CreateDirectory(host);
        File.WriteAllText(Path.Combine(host, "secret"), "x");
        File.CreateSymbolicLink(Path.Combine(tree, "to-host"), host);
        var linkedRoot = Path.Combine(folder.Path, "linked-root");
        File.CreateSymbolicLink(linkedRoot, host);

        var entries = TreeWalker.Walk(tree).ToList();

        Assert.Equal("to-host", Assert.Single(entries).Relative);
        Assert.True(entries[0].Status.IsSymbolicLink);
        Assert.Empty(TreeWalker.Walk(linkedRoot)); // a root that is a link is not walked either
    }
}
