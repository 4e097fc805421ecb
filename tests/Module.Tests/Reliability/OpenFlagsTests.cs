using System.Runtime.InteropServices;
using Sandbox.Native;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// The open flags every caller uses (Native.OpenFlags): O_DIRECTORY and O_NOFOLLOW have other
/// numbers on arm64 than on x86-64, so a copy holding one architecture's number would follow links
/// on the other. The numbers per architecture as plain data, and the ones picked for this process as
/// this machine's kernel understands them.
/// </summary>
[Trait("Area", "Reliability")]
public sealed class OpenFlagsTests
{
    private const int ENOTDIR = 20, ELOOP = 40;

    [Theory]
    [InlineData(Architecture.X64, 0x10000, 0x20000)]
    [InlineData(Architecture.X86, 0x10000, 0x20000)]
    [InlineData(Architecture.S390x, 0x10000, 0x20000)]
    [InlineData(Architecture.LoongArch64, 0x10000, 0x20000)]
    [InlineData(Architecture.Arm64, 0x4000, 0x8000)]
    [InlineData(Architecture.Arm, 0x4000, 0x8000)]
    [InlineData(Architecture.Ppc64le, 0x4000, 0x8000)]
    public void Each_architecture_gets_the_numbers_of_its_kernel_headers(Architecture architecture, int directory, int noFollow)
    {
        Assert.Equal((directory, noFollow), OpenFlags.For(architecture));
    }

    [Fact]
    public void Every_name_for_a_flag_has_the_one_number_picked_for_this_process()
    {
        Assert.Equal(OpenFlags.For(RuntimeInformation.ProcessArchitecture), (OpenFlags.O_DIRECTORY, OpenFlags.O_NOFOLLOW));
        Assert.Equal(OpenFlags.O_NOFOLLOW, OpenAt2.O_NOFOLLOW);
        Assert.Equal(OpenFlags.O_DIRECTORY, OpenAt2.O_DIRECTORY);
        Assert.Equal(OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY | OpenFlags.O_NOFOLLOW | OpenFlags.O_NONBLOCK | OpenFlags.O_CLOEXEC,
            DirectoryCalls.OpenFolderFlags);
    }

    [Fact]
    public void This_machines_kernel_refuses_a_link_with_O_NOFOLLOW_and_a_file_with_O_DIRECTORY()
    {
        using var folder = new Support.TemporaryFolder("open-flags");
        var file = Path.Combine(folder.Path, "file");
        File.WriteAllText(file, "x");
        var link = Path.Combine(folder.Path, "link");
        File.CreateSymbolicLink(link, file);

        Assert.Equal(ELOOP, OpenError(link, OpenFlags.O_RDONLY | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC));
        Assert.Equal(ENOTDIR, OpenError(file, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC));
        Assert.Equal(ENOTDIR, OpenError(file, DirectoryCalls.OpenFolderFlags));
        Assert.Equal(0, OpenError(file, OpenFlags.O_RDONLY | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC));
    }

    /// <summary>errno of open(2), 0 when it opened (and the descriptor is closed again).</summary>
    private static int OpenError(string path, int flags)
    {
        var fd = LibC.open(path, flags, 0);
        if (fd < 0) return Marshal.GetLastPInvokeError();
        LibC.close(fd);
        return 0;
    }
}
