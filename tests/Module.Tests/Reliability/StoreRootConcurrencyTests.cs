using System.Collections.Concurrent;
using Sandbox.Native;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Runspaces of one process (ForEach-Object -Parallel) check the store at every cmdlet and open its
/// root for every entry reached beneath it, all at once. A check in progress must never make a
/// concurrent open find the store unchecked and then "vanished while it was checked".
/// </summary>
[Trait("Area", "Reliability")]
public sealed class StoreRootConcurrencyTests
{
    [Fact]
    public void Checks_and_opens_of_one_store_from_many_threads_at_once_never_find_it_vanished()
    {
        using var folder = new TemporaryFolder("store-root-concurrent");
        var root = Path.Combine(folder.Path, "store");
        Directory.CreateDirectory(root);
        File.SetUnixFileMode(root, (UnixFileMode)0b111_000_000);
        var layout = new StoreLayout(root);
        StoreRootGuard.Verify(layout);
        var failures = new ConcurrentBag<Exception>();

        Parallel.For(0, 16, new ParallelOptions { MaxDegreeOfParallelism = 16 }, worker =>
        {
            for (var round = 0; round < 20000 && failures.IsEmpty; round++)
            {
                try
                {
                    if (worker % 4 == 0) StoreRootGuard.Verify(layout);
                    else if (StoreRootGuard.OpenRoot(root) is var fd and >= 0) LibC.close(fd);
                }
                catch (Exception e) { failures.Add(e); }
            }
        });

        Assert.True(failures.IsEmpty, failures.FirstOrDefault()?.Message);
    }
}
