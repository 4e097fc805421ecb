using Sandbox.Images.Layers;
using Sandbox.Namespaces;
using Sandbox.Native;
using Xunit;

namespace Sandbox.Tests.Layers;

/// <summary>
/// Plain data of a FakeChroot commit: faked's saved table (its exact line form, as fakeroot 1.31's
/// faked writes and loads it) and the rootless owner mapping a layer's files are given.
/// </summary>
[Trait("Area", "Layers")]
public sealed class FakedTableTests
{
    [Fact]
    public void A_line_faked_saved_is_read_with_its_device_type_and_owner()
    {
        // Written by `fakeroot -s` after `mknod d c 1 3` and `chown 1234:2345 a; chmod 4755 a`.
        var device = FakedTable.Parse("dev=fe00,ino=11837523,mode=20644,uid=0,gid=0,nlink=1,rdev=259")!.Value;
        Assert.Equal((0xfe00UL, 11837523UL), (device.Dev, device.Ino));
        Assert.Equal(0x2000u, device.Entry.Mode & 0xF000);
        var setuid = FakedTable.Parse("dev=fe00,ino=11837491,mode=104755,uid=1234,gid=2345,nlink=1,rdev=0")!.Value;
        Assert.Equal(new FakedTable.Entry(0x8000u | 0b100_111_101_101, 1234, 2345), setuid.Entry);
    }

    [Theory]
    [InlineData("")]
    [InlineData("dev=fe00,ino=1,mode=100644,uid=0")]
    [InlineData("dev=zz,ino=1,mode=100644,uid=0,gid=0,nlink=1,rdev=0")]
    [InlineData("dev=fe00,ino=1,mode=100694,uid=0,gid=0,nlink=1,rdev=0")]
    [InlineData("dev=fe00,ino=-1,mode=100644,uid=0,gid=0,nlink=1,rdev=0")]
    public void A_line_not_in_fakeds_form_is_not_read(string line) => Assert.Null(FakedTable.Parse(line));

    [Fact]
    public void A_seeded_line_is_in_fakeds_form_and_reads_back()
    {
        var status = new FileStatus(Mode: 0x8000 | 0b110_100_100, Uid: 1001, Gid: 1001, Size: 1, Blocks: 8, LinkCount: 1,
            DeviceMajor: 254, DeviceMinor: 0, RDevMajor: 0, RDevMinor: 0, Inode: 42);
        var line = FakedTable.Line(status, 1234, 2345);
        Assert.Equal("dev=fe00,ino=42,mode=100644,uid=1234,gid=2345,nlink=1,rdev=0", line);
        Assert.Equal(new FakedTable.Entry(status.Mode, 1234, 2345), FakedTable.Parse(line)!.Value.Entry);
    }

    [Theory]
    [InlineData(254u, 0u, 0xfe00UL)]
    [InlineData(8u, 1u, 0x801UL)]
    [InlineData(259u, 300u, 0x11032cUL)]
    public void Device_numbers_are_glibcs_makedev(uint major, uint minor, ulong expected) =>
        Assert.Equal(expected, FakedTable.DeviceNumber(major, minor));

    [Fact]
    public void Owners_inside_map_to_the_user_and_its_subordinate_ids_and_nothing_else()
    {
        var owners = RootlessOwners.For(1001, new SubordinateIds(100000, 200000, 65536));
        Assert.Equal((0L, 0L), owners.Inside(1001, getegid()));
        Assert.Equal((1234L, 2345L), owners.Inside(101233, 202344));
        Assert.Null(owners.Inside(0, 0));
        Assert.Null(owners.Inside(100000 + 65536, 200000));
        Assert.True(owners.CanHold(65536, 0));
        Assert.False(owners.CanHold(65537, 0));
        var rootOnly = RootlessOwners.For(1001, null);
        Assert.True(rootOnly.CanHold(0, 0));
        Assert.False(rootOnly.CanHold(1234, 0));
    }

    /// <summary>Root inside is the user and the user's own group (unshare --map-root-user).</summary>
    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern uint getegid();
}
