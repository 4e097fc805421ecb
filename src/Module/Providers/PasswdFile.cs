using System.Globalization;
using System.Text;
using Sandbox.Storage;

namespace Sandbox.Providers;

/// <summary>Looks a user up in an image's /etc/passwd, for -User.</summary>
internal static class PasswdFile
{
    /// <summary>A user; <see cref="Name"/> is null for a numeric uid the image does not list.</summary>
    public sealed record Account(uint Uid, uint Gid, string Home, string? Name);

    public static Account Root { get; } = new(0, 0, "/root", "root");

    /// <summary>
    /// No real passwd file comes near this (a million users is about 50 MB); the file is the
    /// sandbox's, so its size is the sandbox's choice and must not become our memory.
    /// </summary>
    public const int MaxBytes = 16 * 1024 * 1024;

    /// <summary>The account a command runs as: root unless it names a user of the sandbox's /etc/passwd.</summary>
    public static Account For(SandboxCommand command, SandboxRootReader root) =>
        command.User is { } user ? Lookup(root, user) : Root;

    /// <summary>
    /// A numeric uid is taken as is; a name must be in the file. The file is read through
    /// <paramref name="root"/>, so a link, device or FIFO planted at /etc/passwd is refused, never followed.
    /// </summary>
    public static Account Lookup(SandboxRootReader root, string user)
    {
        var content = root.ReadFile("/etc/passwd", MaxBytes);
        var lines = content is null ? Array.Empty<string>() : Encoding.UTF8.GetString(content).Split('\n');
        foreach (var fields in lines.Select(line => line.Split(':')).Where(f => f.Length >= 6))
        {
            if ((fields[0] == user || fields[2] == user)
                && uint.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var listedUid)
                && uint.TryParse(fields[3], NumberStyles.None, CultureInfo.InvariantCulture, out var gid))
                return new Account(listedUid, gid, fields[5], fields[0]);
        }
        if (uint.TryParse(user, NumberStyles.None, CultureInfo.InvariantCulture, out var uid))
            return new Account(uid, uid, "/", null);
        throw SandboxErrors.UserNotFound(user, numericUidAllowed: true);
    }
}
