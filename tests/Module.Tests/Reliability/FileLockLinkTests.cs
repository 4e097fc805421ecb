using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// A link planted at a lock file's name (under sudo the store is the caller's) is never followed:
/// root would otherwise create the file it points to, anywhere (an empty /etc/nologin locks every
/// user out), with no race needed.
/// </summary>
[Trait("Area", "Reliability")]
public sealed class FileLockLinkTests
{
    [Fact]
    public void A_link_at_the_lock_files_name_is_refused_and_its_target_is_never_created()
    {
        using var folder = new TemporaryFolder("lock-link");
        var locks = Path.Combine(folder.Path, "locks");
        Directory.CreateDirectory(locks);
        var victim = Path.Combine(folder.Path, "victim-nologin");
        var lockFile = Path.Combine(locks, "sandbox-x.lock");
        File.CreateSymbolicLink(lockFile, victim);

        FileLock? taken = null;
        var thrown = Record.Exception(() => taken = FileLock.Acquire(lockFile));
        taken?.Dispose();

        Assert.False(File.Exists(victim), "the link's target was created");
        Assert.Equal("LockFailed", Assert.IsType<SandboxException>(thrown).ErrorId);
    }
}
