using Sandbox.Storage;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>The mount table's lines as HeldFolderMounts and OverlayUnmountInTrash read them: each mount's ID, its mount point, type and source.</summary>
[Trait("Area", "Reliability")]
public sealed class MountTableTests
{
    [Fact]
    public void A_line_gives_the_mount_id_and_the_unescaped_mount_point()
    {
        var entry = MountTable.Parse(@"436 29 0:52 / /tmp/s/x\040(deleted)/a\134b\011c rw,relatime shared:1 - tmpfs t rw");

        Assert.Equal(new MountEntry(436, "/tmp/s/x (deleted)/a\\b\tc", "tmpfs", "t"), entry);
    }

    [Fact]
    public void The_type_and_source_are_the_two_fields_after_the_separator_past_any_optional_fields()
    {
        var overlay = MountTable.Parse("512 29 0:77 / /s/sandboxes/a/merged rw,relatime shared:1 master:3 - overlay sandbox-overlay rw,lowerdir=l");
        var plain = MountTable.Parse(@"513 29 0:78 / /s/m rw - tmpfs a\040b rw");

        Assert.Equal(("overlay", "sandbox-overlay"), (overlay?.FsType, overlay?.Source));
        Assert.Equal(("tmpfs", "a b"), (plain?.FsType, plain?.Source));
    }

    [Fact]
    public void A_backslash_that_is_not_an_octal_escape_is_kept_as_it_is()
    {
        var entry = MountTable.Parse(@"9 1 0:1 / /m\040n rw - fuse.x dev\x9\400\ rw");

        Assert.Equal(new MountEntry(9, "/m n", "fuse.x", @"dev\x9\400\"), entry);
    }

    [Fact]
    public void A_line_without_the_separator_has_no_type_or_source()
    {
        Assert.Equal(new MountEntry(7, "/m"), MountTable.Parse("7 1 0:1 / /m rw"));
        Assert.Equal(new MountEntry(8, "/m"), MountTable.Parse("8 1 0:1 / /m rw shared:1 -"));
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
