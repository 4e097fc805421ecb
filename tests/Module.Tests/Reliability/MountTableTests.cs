using Sandbox.Storage;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>The mount table's lines as HeldFolderMounts reads them: each mount's ID and its mount point.</summary>
[Trait("Area", "Reliability")]
public sealed class MountTableTests
{
    [Fact]
    public void A_line_gives_the_mount_id_and_the_unescaped_mount_point()
    {
        var entry = MountTable.Parse(@"436 29 0:52 / /tmp/s/x\040(deleted)/a\134b\011c rw,relatime shared:1 - tmpfs t rw");

        Assert.Equal(new MountEntry(436, "/tmp/s/x (deleted)/a\\b\tc"), entry);
    }

    [Fact]
    public void A_line_that_is_not_a_mount_is_none()
    {
        Assert.Null(MountTable.Parse(""));
        Assert.Null(MountTable.Parse("x 29 0:52 / /tmp rw"));
    }

    [Fact]
    public void Under_keeps_the_folder_and_what_is_below_it_deepest_first_and_not_a_sibling_with_the_same_start()
    {
        var table = new[]
        {
            new MountEntry(1, "/"), new MountEntry(2, "/s/a"), new MountEntry(3, "/s/a/m"),
            new MountEntry(4, "/s/ab/m"), new MountEntry(5, "/s/a/m/deeper"), new MountEntry(6, "/s/a/m"),
        };

        var under = MountTable.Under(table, "/s/a/");

        Assert.Equal(new ulong[] { 5, 3, 6, 2 }, under.Select(entry => entry.Id));
    }
}
