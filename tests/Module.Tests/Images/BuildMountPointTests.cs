using Sandbox.Images;
using Sandbox.Native;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests;

/// <summary>
/// The folders to a root build's mount point (Images.BuildMountPoint) are made and checked one at a time
/// relative to the one before: a link on the way is never followed, and a folder open to other users is
/// refused (BuildRootUnsafe). Run on a temporary folder of root's standing for /run.
/// </summary>
[Trait("Area", "Images")]
[Trait("User", "Root")]
public sealed class BuildMountPointTests
{
    private static readonly (string, uint)[] Steps =
    {
        ("sandbox", BuildMountPoint.SharedFolderMode), ("build", BuildMountPoint.PrivateFolderMode), ("root", BuildMountPoint.PrivateFolderMode),
    };

    [SkippableFact]
    public void Missing_folders_are_made_roots_own_and_the_private_ones_closed_to_others()
    {
        Skip.If(Environment.UserName != "root", "the folders must be root's; run the tests as root (CI does).");
        using var run = new TemporaryFolder("build-mount-point");

        BuildMountPoint.Ensure(run.Path, Steps);
        BuildMountPoint.Ensure(run.Path, Steps); // and again, over what the first call made

        Assert.Equal(0b111_000_000u, FileStatus.Of(Path.Combine(run.Path, "sandbox", "build"))!.Value.Permissions);
        Assert.Equal(0b111_000_000u, FileStatus.Of(Path.Combine(run.Path, "sandbox", "build", "root"))!.Value.Permissions);
        Assert.Equal(0u, FileStatus.Of(Path.Combine(run.Path, "sandbox", "build", "root"))!.Value.Uid);
    }

    [SkippableFact]
    public void A_link_on_the_way_is_refused_and_nothing_is_made_where_it_leads()
    {
        Skip.If(Environment.UserName != "root", "the folders must be root's; run the tests as root (CI does).");
        using var run = new TemporaryFolder("build-mount-point-link");
        var elsewhere = Directory.CreateDirectory(Path.Combine(run.Path, "elsewhere")).FullName;
        Directory.CreateDirectory(Path.Combine(run.Path, "sandbox"));
        File.CreateSymbolicLink(Path.Combine(run.Path, "sandbox", "build"), elsewhere);

        var error = Assert.Throws<SandboxException>(() => BuildMountPoint.Ensure(run.Path, Steps));

        Assert.Equal("BuildRootUnsafe", error.ErrorId);
        Assert.Empty(Directory.GetFileSystemEntries(elsewhere));
    }

    [SkippableFact]
    public void A_private_folder_open_to_other_users_is_refused()
    {
        Skip.If(Environment.UserName != "root", "the folders must be root's; run the tests as root (CI does).");
        using var run = new TemporaryFolder("build-mount-point-open");
        var build = Directory.CreateDirectory(Path.Combine(run.Path, "sandbox", "build")).FullName;
        File.SetUnixFileMode(build, (UnixFileMode)0b111_101_101);

        var error = Assert.Throws<SandboxException>(() => BuildMountPoint.Ensure(run.Path, Steps));

        Assert.Equal("BuildRootUnsafe", error.ErrorId);
        Assert.False(Directory.Exists(Path.Combine(build, "root")));
    }
}
