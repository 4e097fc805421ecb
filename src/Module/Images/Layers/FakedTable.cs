using System.Globalization;
using System.Text;
using Sandbox.Native;
using Sandbox.Storage;

namespace Sandbox.Images.Layers;

/// <summary>
/// faked's table of a FakeChroot sandbox as it saves it (<c>--save-file</c>, one line per inode:
/// <c>dev=%llx,ino=%llu,mode=%llo,uid=%llu,gid=%llu,nlink=%llu,rdev=%llu</c>): the owners, modes and
/// fake device types its commands set, which exist nowhere on disk. Files faked does not know look
/// to the sandbox's commands as their real mode owned by 0:0.
/// </summary>
internal sealed class FakedTable
{
    /// <summary>What faked remembers of one inode.</summary>
    internal readonly record struct Entry(uint Mode, long Uid, long Gid);

    /// <summary>Far more lines than any real sandbox makes (a whole Debian is ~100k files), bounding what a hostile step can make us hold.</summary>
    internal const int MaxLines = 4_000_000;

    /// <summary>
    /// MaxLines of faked's longest real lines (~64 bytes): the table is refused beyond it before a
    /// byte is read. The save file is in a folder the sandbox's commands can reach (FakeChroot is no
    /// boundary), so it is read as untrusted: a regular file only, never through a link, never a FIFO.
    /// </summary>
    internal const long MaxBytes = 256L << 20;

    /// <summary>faked's lines are under 160 bytes (seven numbers and their names); a longer one is not its form.</summary>
    private const int MaxLineBytes = 512;

    private readonly Dictionary<(ulong Dev, ulong Ino), Entry> _entries;

    private FakedTable(Dictionary<(ulong, ulong), Entry> entries) => _entries = entries;

    public static FakedTable Empty => new(new Dictionary<(ulong, ulong), Entry>());

    public int Count => _entries.Count;

    public Entry? Find(FileStatus status) =>
        _entries.TryGetValue((DeviceNumber(status.DeviceMajor, status.DeviceMinor), status.Inode), out var entry) ? entry : null;

    /// <summary>
    /// Reads a saved table; none is an empty table (faked never saved one). Anything else than a
    /// regular file in its place, a table beyond <see cref="MaxBytes"/>, or a line that is not
    /// faked's form is an error (the table is not what faked wrote).
    /// </summary>
    public static FakedTable Read(string path, string sandbox)
    {
        var entries = new Dictionary<(ulong, ulong), Entry>();
        if (FileStatus.Of(path) is null) return new FakedTable(entries);
        using var file = UntrustedFile.OpenRegular(path)
            ?? throw SandboxErrors.CommitOwnersUnreadable(sandbox, "its save file is not a regular file (a link, a FIFO or a device node was put in its place).");
        using var stream = new FileStream(file, FileAccess.Read, bufferSize: 0);
        if (stream.Length > MaxBytes) throw SandboxErrors.CommitOwnersTableTooLarge(sandbox, stream.Length, MaxBytes);
        var count = 0;
        foreach (var line in Lines(stream, sandbox))
        {
            if (line.Length == 0) continue;
            if (++count > MaxLines) throw SandboxErrors.CommitOwnersUnreadable(sandbox, $"it has more than {MaxLines} entries.");
            if (line.Length > MaxLineBytes || Parse(line) is not var (dev, ino, entry))
                throw SandboxErrors.CommitOwnersUnreadable(sandbox, $"line {count} is not faked's form.");
            entries[(dev, ino)] = entry;
        }
        return new FakedTable(entries);
    }

    /// <summary>
    /// The file's lines, each cut at MaxLineBytes + 1 bytes (enough to refuse it) so that one huge
    /// line is never held, and the whole read stopped at MaxBytes even if the file grows meanwhile.
    /// </summary>
    private static IEnumerable<string> Lines(Stream stream, string sandbox)
    {
        var buffer = new byte[64 * 1024];
        var line = new byte[MaxLineBytes + 1];
        var length = 0;
        long total = 0;
        int read;
        while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            total += read;
            if (total > MaxBytes) throw SandboxErrors.CommitOwnersTableTooLarge(sandbox, total, MaxBytes);
            for (var i = 0; i < read; i++)
            {
                if (buffer[i] == (byte)'\n')
                {
                    yield return Encoding.ASCII.GetString(line, 0, length);
                    length = 0;
                }
                else if (length < line.Length) line[length++] = buffer[i];
            }
        }
        if (length > 0) yield return Encoding.ASCII.GetString(line, 0, length);
    }

    internal static (ulong Dev, ulong Ino, Entry Entry)? Parse(string line)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var field in line.Split(','))
        {
            var equals = field.IndexOf('=');
            if (equals <= 0) return null;
            fields[field[..equals]] = field[(equals + 1)..];
        }
        if (!fields.TryGetValue("dev", out var dev) || !ulong.TryParse(dev, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var device)
            || !fields.TryGetValue("ino", out var ino) || !ulong.TryParse(ino, NumberStyles.None, CultureInfo.InvariantCulture, out var inode)
            || !fields.TryGetValue("mode", out var modeText) || !TryOctal(modeText, out var mode)
            || !fields.TryGetValue("uid", out var uidText) || !long.TryParse(uidText, NumberStyles.None, CultureInfo.InvariantCulture, out var uid)
            || !fields.TryGetValue("gid", out var gidText) || !long.TryParse(gidText, NumberStyles.None, CultureInfo.InvariantCulture, out var gid))
            return null;
        return (device, inode, new Entry(mode, uid, gid));
    }

    /// <summary>One line in faked's form, for a table faked loads at start (--load).</summary>
    public static string Line(FileStatus status, long uid, long gid) => string.Create(CultureInfo.InvariantCulture,
        $"dev={DeviceNumber(status.DeviceMajor, status.DeviceMinor):x},ino={status.Inode},mode={Convert.ToString(status.Mode, 8)},uid={uid},gid={gid},nlink={status.LinkCount},rdev=0");

    /// <summary>glibc's makedev: st_dev as faked received it from stat.</summary>
    internal static ulong DeviceNumber(uint major, uint minor) =>
        ((ulong)(major & 0xfff) << 8) | ((ulong)(major & ~0xfffu) << 32) | (minor & 0xff) | ((ulong)(minor & ~0xffu) << 12);

    private static bool TryOctal(string text, out uint value)
    {
        value = 0;
        if (text.Length == 0 || text.Length > 11) return false;
        foreach (var c in text)
        {
            if (c < '0' || c > '7') return false;
            value = value * 8 + (uint)(c - '0');
        }
        return true;
    }
}
