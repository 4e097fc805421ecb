using System.Globalization;

namespace Sandbox.Namespaces;

/// <summary>
/// The user's ranges in /etc/subuid and /etc/subgid (handed out by useradd), which let a rootless
/// sandbox hold files of many owners: root inside is the user, uids 1.. map onto the range, so a
/// `chown 1234` in the sandbox works as it would for real root.
/// </summary>
internal sealed record SubordinateIds(long UidStart, long GidStart, long Count)
{
    public static SubordinateIds? ForCurrentUser()
    {
        var name = Environment.UserName;
        var uid = Native.UserIdentity.EffectiveUid.ToString(CultureInfo.InvariantCulture);
        var uids = Find("/etc/subuid", name, uid);
        var gids = Find("/etc/subgid", name, uid);
        if (uids is null || gids is null) return null;
        return new SubordinateIds(uids.Value.Start, gids.Value.Start, Math.Min(uids.Value.Count, gids.Value.Count));
    }

    private static (long Start, long Count)? Find(string file, string name, string uid)
    {
        if (!File.Exists(file)) return null;
        foreach (var fields in File.ReadLines(file).Select(line => line.Split(':')).Where(f => f.Length == 3))
        {
            if ((fields[0] == name || fields[0] == uid)
                && long.TryParse(fields[1], CultureInfo.InvariantCulture, out var start)
                && long.TryParse(fields[2], CultureInfo.InvariantCulture, out var count) && count > 0)
                return (start, count);
        }
        return null;
    }
}
