using System.Runtime.InteropServices;

namespace Sandbox.Native;

/// <summary>
/// Every uid and gid the host's accounts use, as getpwent(3) and getgrent(3) list them through NSS:
/// /etc/passwd and /etc/group, and every source that can enumerate (sssd with enumerate = true,
/// LDAP, ...). Sources that cannot enumerate (sssd's default, winbind without enumeration, a lookup
/// by id only) are NOT seen: their ids may still exist. One pass each, not a lookup per id, so a
/// 65536-id range costs nothing extra to check.
/// </summary>
internal static unsafe partial class AccountIds
{
    // struct passwd { char *pw_name; char *pw_passwd; uid_t pw_uid; ... } and
    // struct group { char *gr_name; char *gr_passwd; gid_t gr_gid; ... }: the id follows two pointers in both.
    private static readonly int IdOffset = 2 * IntPtr.Size;

    [LibraryImport("libc")] private static partial void setpwent();
    [LibraryImport("libc")] private static partial nint getpwent();
    [LibraryImport("libc")] private static partial void endpwent();
    [LibraryImport("libc")] private static partial void setgrent();
    [LibraryImport("libc")] private static partial nint getgrent();
    [LibraryImport("libc")] private static partial void endgrent();

    // getpwent and getgrent keep their place in libc's global state: one enumeration at a time in this process.
    private static readonly object Gate = new();

    /// <summary>The uids of every enumerable user and the gids of every enumerable group, together.</summary>
    public static IReadOnlyList<uint> All()
    {
        var ids = new List<uint>();
        lock (Gate)
        {
            setpwent();
            try { for (var entry = getpwent(); entry != 0; entry = getpwent()) ids.Add((uint)Marshal.ReadInt32(entry, IdOffset)); }
            finally { endpwent(); }
            setgrent();
            try { for (var entry = getgrent(); entry != 0; entry = getgrent()) ids.Add((uint)Marshal.ReadInt32(entry, IdOffset)); }
            finally { endgrent(); }
        }
        return ids;
    }
}
