using Sandbox.Native;
using Sandbox.Providers;
using Sandbox.Storage;

namespace Sandbox.Images.Layers;

/// <summary>
/// What a FakeChroot sandbox's private copy started as, recorded when the sandbox is created:
/// <list type="bullet">
/// <item>the owners of its image's derived layers, written into faked's table before faked first
/// loads it: the copy itself is the user's (a user cannot give files to others), so without this a
/// file the parent chowned would look owned by root in the copy;</item>
/// <item>the moment the copy became the sandbox's (the birth of an empty marker file made after the
/// copy was complete): every entry the copy was made with is older, every change a command makes
/// (a write, a rename, a chmod, a new file) gives the inode a newer status-change time, which no
/// unprivileged process can set back. A commit compares with it (<see cref="FakeChrootLayerPlan"/>);</item>
/// <item>which folder stood at each path (<see cref="FarmFolders"/>), recorded when the copy was made
/// (a copy from the pool brings its record), here only if it came without one.</item>
/// </list>
/// </summary>
internal static class FarmBaseline
{
    private const string MarkerName = "copy-taken";
    private const uint TypeMask = 0xF000;

    public static void Record(SandboxInfo sandbox, string fakedTable)
    {
        SeedOwners(sandbox, fakedTable);
        FarmFolders.EnsureRecorded(FakeChrootProvider.Farm(sandbox));
        PrivateFiles.WriteNew(Path.Combine(sandbox.StatePath, MarkerName), "");
    }

    /// <summary>The moment the copy became the sandbox's, or null for a sandbox made by an older version (no marker).</summary>
    public static long? TakenAt(SandboxInfo sandbox) => EntryTimes.Of(Path.Combine(sandbox.StatePath, MarkerName))?.Earliest;

    /// <summary>
    /// Every entry of the image's layers above its base (what derived images added: few files) whose
    /// owner inside is not root, as a line of faked's table for the copy's inode of that path. The
    /// base layer is not read: a FakeChroot base (mmdebstrap fakechroot mode, an import by the user)
    /// is the user's, root inside, which is what faked says of files it does not know.
    /// </summary>
    private static void SeedOwners(SandboxInfo sandbox, string fakedTable)
    {
        var layers = sandbox.LowerLayers;
        if (layers.Count < 2 || File.Exists(fakedTable)) return;
        var owners = RootlessOwners.Current();
        var farm = FakeChrootProvider.Farm(sandbox);
        var lines = new List<string>();
        using (var stack = TreeLookupStack.Open(layers))
        {
            for (var layer = 0; layer < layers.Count - 1; layer++)
            {
                foreach (var (relative, status) in TreeWalker.Walk(layers[layer]))
                {
                    if (status.IsWhiteout || owners.Inside(status.Uid, status.Gid) is not { } inside || inside == (0, 0)) continue;
                    if (stack.Find(relative) is not { } seen || seen.Layer != layer) continue; // hidden by a layer above
                    // The copy is ours and was made from this very view: every folder on the way is a folder.
                    if (FileStatus.Of(Path.Combine(farm, relative)) is not { } copy || (copy.Mode & TypeMask) != (status.Mode & TypeMask)) continue;
                    lines.Add(FakedTable.Line(copy, inside.Uid, inside.Gid));
                }
            }
        }
        if (lines.Count > 0) PrivateFiles.WriteNew(fakedTable, string.Join('\n', lines) + "\n");
    }
}
