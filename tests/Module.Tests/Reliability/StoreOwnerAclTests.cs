using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Sandbox.Storage;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>The store guard's reading of POSIX ACL xattrs (plain data: version 2, entries of tag u16, perm u16, id u32).</summary>
[Trait("Area", "Reliability")]
public sealed class StoreOwnerAclTests
{
    [Fact]
    public void An_acl_of_only_the_owner_group_mask_and_others_lets_nobody_else_write()
    {
        Assert.Null(PosixAcl.NamedWriter(AclXattr.Value((0x01, 7, AclXattr.NoId), (0x04, 7, AclXattr.NoId), (0x10, 7, AclXattr.NoId), (0x20, 5, AclXattr.NoId))));
    }

    [Fact]
    public void A_named_user_or_group_with_write_is_found_and_named_without_write_is_not()
    {
        Assert.Contains("uid 4242", PosixAcl.NamedWriter(AclXattr.Value((0x01, 7, AclXattr.NoId), (0x02, 2, 4242), (0x04, 5, AclXattr.NoId))));
        Assert.Contains("group 77", PosixAcl.NamedWriter(AclXattr.Value((0x01, 7, AclXattr.NoId), (0x08, 7, 77))));
        Assert.Null(PosixAcl.NamedWriter(AclXattr.Value((0x01, 7, AclXattr.NoId), (0x02, 5, 4242), (0x08, 1, 77))));
    }

    [Fact]
    public void An_acl_in_an_unknown_format_is_unsafe()
    {
        var value = AclXattr.Value((0x01, 7, AclXattr.NoId));
        BinaryPrimitives.WriteUInt32LittleEndian(value, 3);
        Assert.NotNull(PosixAcl.NamedWriter(value));
        Assert.NotNull(PosixAcl.NamedWriter(value.AsSpan(0, 7)));
        Assert.NotNull(PosixAcl.NamedWriter(ReadOnlySpan<byte>.Empty));
    }
}

/// <summary>Writes POSIX ACL xattrs directly (no setfacl on the test machine), as the kernel stores them.</summary>
internal static partial class AclXattr
{
    public const uint NoId = uint.MaxValue;

    public static byte[] Value(params (ushort Tag, ushort Permissions, uint Id)[] entries)
    {
        var value = new byte[4 + 8 * entries.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(value, 2);
        for (var i = 0; i < entries.Length; i++)
        {
            var at = value.AsSpan(4 + 8 * i);
            BinaryPrimitives.WriteUInt16LittleEndian(at, entries[i].Tag);
            BinaryPrimitives.WriteUInt16LittleEndian(at[2..], entries[i].Permissions);
            BinaryPrimitives.WriteUInt32LittleEndian(at[4..], entries[i].Id);
        }
        return value;
    }

    /// <summary>Sets u::rwx, u:UID:rwx, g::rwx, m::rwx, o::--- as <paramref name="name"/> (access or default ACL).</summary>
    public static void GrantWrite(string path, string name, uint uid)
    {
        var value = Value((0x01, 7, NoId), (0x02, 7, uid), (0x04, 7, NoId), (0x10, 7, NoId), (0x20, 0, NoId));
        if (setxattr(path, name, value, (nuint)value.Length, 0) != 0)
            throw new InvalidOperationException($"setxattr {name} on {path} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setxattr(string path, string name, byte[] value, nuint size, int flags);
}
