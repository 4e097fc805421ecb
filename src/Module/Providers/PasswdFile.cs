using System.Globalization;

namespace Sandbox.Providers;

/// <summary>Looks a user up in an image's /etc/passwd, for -User.</summary>
public static class PasswdFile
{
    /// <summary>A user; <see cref="Name"/> is null for a numeric uid the image does not list.</summary>
    public sealed record Account(uint Uid, uint Gid, string Home, string? Name);

    public static Account Root { get; } = new(0, 0, "/root", "root");

    /// <summary>The account a command runs as: root unless it names a user of <paramref name="passwdPath"/>.</summary>
    public static Account For(SandboxCommand command, string? passwdPath) =>
        command.User is { } user ? Lookup(passwdPath, user) : Root;

    /// <summary>A numeric uid is taken as is; a name must be in the file.</summary>
    public static Account Lookup(string? passwdPath, string user)
    {
        var lines = passwdPath is not null && File.Exists(passwdPath) ? File.ReadAllLines(passwdPath) : Array.Empty<string>();
        foreach (var fields in lines.Select(line => line.Split(':')).Where(f => f.Length >= 6))
        {
            if (fields[0] == user || fields[2] == user)
                return new Account(uint.Parse(fields[2], CultureInfo.InvariantCulture),
                    uint.Parse(fields[3], CultureInfo.InvariantCulture), fields[5], fields[0]);
        }
        if (uint.TryParse(user, NumberStyles.None, CultureInfo.InvariantCulture, out var uid))
            return new Account(uid, uid, "/", null);
        throw new SandboxException("UserNotFound", SandboxErrorKind.ObjectNotFound,
            $"There is no user '{user}' in the image's /etc/passwd.",
            "Give a numeric uid, or create the user in the sandbox first (useradd).", user);
    }
}
