using System.Globalization;
using System.Text;
using Sandbox.Native;
using Sandbox.Storage;

namespace Sandbox.Images.Layers;

/// <summary>
/// Which folder (device, inode) stood at each path of a FakeChroot copy when the copy was made,
/// before any sandbox had it. A commit needs it to tell a folder the step put in place of the
/// parent's from the parent's own: after <c>rm -rf /b; mv /a /b</c> the entries under the new
/// <c>/b</c> keep their old status-change times (renaming a folder does not touch its children), so
/// by path and facts alone <c>b/x</c> looks like the parent's <c>b/x</c> whenever size, time, owner
/// and mode agree. A folder whose identity at its path is not the recorded one is treated as
/// replaced (<see cref="FakeChrootLayerPlan"/>: opaque, everything under it in the layer). Old
/// folders keep their inodes for as long as they exist, so a folder moved in from elsewhere never
/// matches; a path with no record (made after the copy) never matches either, so a lost or partial
/// record errs towards a larger layer, never towards a missing change.
/// <para>Recorded where the copy is made (the pool fills copies in the background), kept next to
/// the copy as <c>&lt;copy&gt;.folders</c> and moved with it (a rename keeps every inode).</para>
/// </summary>
internal sealed class FarmFolders
{
    /// <summary>
    /// Far more than any real image holds (a whole Debian desktop has ~30k folders, ~2 MiB of
    /// records): the file is in a folder a FakeChroot step could reach, so it is read as untrusted.
    /// </summary>
    internal const long MaxBytes = 64L << 20;

    private readonly Dictionary<string, (uint Major, uint Minor, ulong Inode)> _byPath;

    private FarmFolders(Dictionary<string, (uint, uint, ulong)> byPath) => _byPath = byPath;

    public int Count => _byPath.Count;

    public static string FileOf(string copy) => copy + ".folders";

    /// <summary>Records every folder of <paramref name="copy"/>, replacing any record (written aside, then renamed: never seen half-written).</summary>
    public static void Record(string copy)
    {
        var records = new StringBuilder();
        foreach (var (relative, status) in TreeWalker.Walk(copy))
        {
            if (!status.IsDirectory) continue;
            records.Append(CultureInfo.InvariantCulture, $"{status.DeviceMajor} {status.DeviceMinor} {status.Inode} {relative}\0");
        }
        var file = FileOf(copy);
        var aside = file + ".new";
        PrivateFiles.WriteNew(aside, records.ToString());
        File.Move(aside, file, overwrite: true);
    }

    /// <summary>Records the copy's folders unless a record came with it (a copy the pool of an older version made has none).</summary>
    public static void EnsureRecorded(string copy)
    {
        if (FileStatus.Of(FileOf(copy)) is null) Record(copy);
    }

    /// <summary>Moves the record of the copy <paramref name="from"/> along with the copy, now at <paramref name="to"/>; none is none.</summary>
    public static void MoveWith(string from, string to)
    {
        if (FileStatus.Of(FileOf(from)) is not null) File.Move(FileOf(from), FileOf(to), overwrite: true);
    }

    /// <summary>The copy's record, or null if none was made (a sandbox of an older version).</summary>
    public static FarmFolders? Read(string copy, string sandbox)
    {
        var file = FileOf(copy);
        if (FileStatus.Of(file) is not { } status) return null;
        if (!status.IsRegularFile) throw SandboxErrors.CommitFolderRecordUnreadable(sandbox, file, "it is not a regular file.");
        if ((long)status.Size > MaxBytes) throw SandboxErrors.CommitFolderRecordUnreadable(sandbox, file, $"it is larger than {MaxBytes >> 20} MiB.");
        var bytes = UntrustedFile.ReadRegular(file, MaxBytes)
                    ?? throw SandboxErrors.CommitFolderRecordUnreadable(sandbox, file, $"it is not a regular file of at most {MaxBytes >> 20} MiB.");
        var byPath = new Dictionary<string, (uint, uint, ulong)>(StringComparer.Ordinal);
        var text = Encoding.UTF8.GetString(bytes);
        var number = 0;
        foreach (var record in text.Split('\0'))
        {
            number++;
            if (record.Length == 0) continue;
            if (Parse(record) is not var (relative, major, minor, inode))
                throw SandboxErrors.CommitFolderRecordUnreadable(sandbox, file, $"record {number} is not in its form.");
            byPath[relative] = (major, minor, inode);
        }
        return new FarmFolders(byPath);
    }

    /// <summary>Whether <paramref name="status"/> (of the copy's entry at <paramref name="relative"/>) is the folder recorded there.</summary>
    public bool Holds(string relative, FileStatus status) =>
        status.IsDirectory && _byPath.TryGetValue(relative, out var was)
        && was == (status.DeviceMajor, status.DeviceMinor, status.Inode);

    private static (string Relative, uint Major, uint Minor, ulong Inode)? Parse(string record)
    {
        var fields = record.Split(' ', 4);
        if (fields.Length != 4 || fields[3].Length == 0
            || !uint.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var major)
            || !uint.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var minor)
            || !ulong.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var inode))
            return null;
        return (fields[3], major, minor, inode);
    }
}
