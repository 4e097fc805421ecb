using System.Globalization;
using System.Text;

namespace Sandbox.Storage;

/// <summary>
/// One line of /proc/self/mountinfo: the mount's ID (its first field), where it is mounted, and its file
/// system type and source (the two fields after the " - " separator; empty when the line has none).
/// </summary>
internal readonly record struct MountEntry(ulong Id, string Point, string FsType = "", string Source = "");

/// <summary>Reads this process's mount table (/proc/self/mountinfo) to find mounts under a folder.</summary>
internal static class MountTable
{
    public static IReadOnlyList<string> MountPointsUnder(string folder) =>
        Under(Read(), folder).Select(entry => entry.Point).ToList();

    /// <summary>Every mount of this process's mount namespace, as mountinfo lists them (parents before their children).</summary>
    /// <remarks>
    /// Lines end at '\n' only: the kernel escapes space, tab, newline and backslash in a path but
    /// writes a carriage return as it is, which File.ReadLines would take for a line end, so a mount
    /// below a folder whose name holds one (a store under sudo is named by its caller) went unseen.
    /// </remarks>
    public static IReadOnlyList<MountEntry> Read() =>
        File.ReadAllText("/proc/self/mountinfo").Split('\n').Select(Parse).OfType<MountEntry>().ToList();

    /// <summary>The entries of <paramref name="entries"/> at or below <paramref name="folder"/>, deepest first (for unmounting).</summary>
    public static IReadOnlyList<MountEntry> Under(IEnumerable<MountEntry> entries, string folder)
    {
        var prefix = Path.TrimEndingDirectorySeparator(folder);
        return entries
            .Where(entry => entry.Point == prefix || entry.Point.StartsWith(prefix + "/", StringComparison.Ordinal))
            .OrderByDescending(entry => entry.Point.Length)
            .ToList();
    }

    /// <summary>A mountinfo line ("36 35 98:0 /mnt1 /mnt/parent rw,... - ext3 ..."); null when it is not one.</summary>
    public static MountEntry? Parse(string line)
    {
        var fields = line.Split(' ');
        if (fields.Length < 5 || !ulong.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var id)) return null;
        // Optional fields (shared:N, master:N) come between the mount point's options and the separator.
        var separator = fields.Length > 6 ? Array.IndexOf(fields, "-", 6) : -1;
        var (fsType, source) = separator > 0 && separator + 2 < fields.Length
            ? (Unescape(fields[separator + 1]), Unescape(fields[separator + 2]))
            : ("", "");
        return new MountEntry(id, Unescape(fields[4]), fsType, source);
    }

    /// <summary>
    /// mountinfo writes space, tab, newline and backslash as octal escapes (\040). Only a backslash and
    /// three octal digits up to \377 is one; anything else is kept as it is (a source a file system
    /// prints raw must not make the whole table unreadable).
    /// </summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\')) return field;
        var bytes = new List<byte>();
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && IsOctalByte(field.AsSpan(i + 1, 3)))
            {
                bytes.Add(Convert.ToByte(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else bytes.AddRange(Encoding.UTF8.GetBytes(field[i].ToString()));
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static bool IsOctalByte(ReadOnlySpan<char> digits) =>
        digits[0] is >= '0' and <= '3' && digits[1] is >= '0' and <= '7' && digits[2] is >= '0' and <= '7';
}
