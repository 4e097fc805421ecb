using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Sandbox.Storage;

/// <summary>
/// A folder's POSIX ACLs, read from their xattrs (system.posix_acl_access / _default), without libacl.
/// With an ACL the mode's group bits are only its mask, so a named user or group entry can let
/// someone else write a folder whose mode looks private. The honest rule the store guard applies:
/// any named user or named group entry carrying write makes the folder writable by others
/// (the mask is ignored: the folder's owner, or anyone it lets chmod, can widen it at any time).
/// </summary>
internal static partial class PosixAcl
{
    public const string Access = "system.posix_acl_access";
    public const string Default = "system.posix_acl_default";

    private const uint Version = 2;
    private const ushort NamedUser = 0x02;
    private const ushort NamedGroup = 0x08;
    private const ushort WritePermission = 0x02;

    /// <summary>
    /// What in the xattr value lets someone other than the owner write ("user 1001 may write"), or null when
    /// nothing does. A value in a format we cannot read is treated as unsafe: we cannot tell who it lets in.
    /// </summary>
    public static string? NamedWriter(ReadOnlySpan<byte> value)
    {
        if (value.Length < 4 || (value.Length - 4) % 8 != 0 || BinaryPrimitives.ReadUInt32LittleEndian(value) != Version)
            return "carries an ACL in a format this module cannot read";
        for (var offset = 4; offset < value.Length; offset += 8)
        {
            var tag = BinaryPrimitives.ReadUInt16LittleEndian(value[offset..]);
            var permissions = BinaryPrimitives.ReadUInt16LittleEndian(value[(offset + 2)..]);
            var id = BinaryPrimitives.ReadUInt32LittleEndian(value[(offset + 4)..]);
            if ((permissions & WritePermission) == 0) continue;
            if (tag == NamedUser) return $"has an ACL entry letting {StoreRootGuard.UserName(id)} write";
            if (tag == NamedGroup) return $"has an ACL entry letting group {id} write";
        }
        return null;
    }

    /// <summary>
    /// Reads the ACL xattr <paramref name="name"/> of <paramref name="path"/> (never through a link) and
    /// returns what lets others write, or null when it has none or grants nobody else write.
    /// </summary>
    public static string? NamedWriter(string path, string name)
    {
        var buffer = new byte[256];
        while (true)
        {
            var length = lgetxattr(path, name, buffer, (nuint)buffer.Length);
            if (length >= 0) return NamedWriter(buffer.AsSpan(0, (int)length));
            var errno = Marshal.GetLastPInvokeError();
            if (errno is ENODATA or EOPNOTSUPP or ENOENT) return null; // no ACL, or a file system without ACLs
            if (errno != ERANGE || buffer.Length > 1 << 20) return $"has an ACL that cannot be read ({Native.LibC.ErrorText(errno)})";
            buffer = new byte[buffer.Length * 4];
        }
    }

    private const int ENOENT = 2;
    private const int ERANGE = 34;
    private const int ENODATA = 61;
    private const int EOPNOTSUPP = 95;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint lgetxattr(string path, string name, byte[] value, nuint size);
}
