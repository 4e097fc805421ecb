using System.Text;

namespace Sandbox.Storage;

/// <summary>Reads this process's mount table (/proc/self/mountinfo) to find mounts under a folder.</summary>
internal static class MountTable
{
    public static IReadOnlyList<string> MountPointsUnder(string folder)
    {
        var prefix = Path.TrimEndingDirectorySeparator(folder);
        return File.ReadLines("/proc/self/mountinfo")
            .Select(line => Unescape(line.Split(' ')[4]))
            .Where(point => point == prefix || point.StartsWith(prefix + "/", StringComparison.Ordinal))
            .OrderByDescending(point => point.Length) // deepest first, for unmounting
            .ToList();
    }

    /// <summary>mountinfo writes space, tab, newline and backslash as octal escapes (\040).</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\')) return field;
        var bytes = new List<byte>();
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length)
            {
                bytes.Add(Convert.ToByte(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else bytes.AddRange(Encoding.UTF8.GetBytes(field[i].ToString()));
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}
