using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Tests that measure what this process holds (GC.GetTotalMemory): run alone, after the tests that run
/// in parallel, whose own allocations would otherwise count (136 MiB once, in a CI run).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryMeasurementCollection
{
    public const string Name = "memory measurements";
}

[Collection(MemoryMeasurementCollection.Name)]
[Trait("Area", "Reliability")]
public sealed class UntrustedTarExtractorMemoryTests
{
    /// <summary>
    /// Nothing is kept per entry: the old extractor kept every created folder's path (to set its
    /// mode at the end), about 10 KB each here, 200 MB for 20,000 and 8 GB for the default million.
    /// </summary>
    [Fact]
    public void Many_deep_folders_leave_no_memory_held_per_entry()
    {
        using var scratch = new TemporaryFolder("untar");
        var destination = UntrustedTarExtractorTests.NewDestination(scratch);
        var tar = UntrustedTarExtractorTests.DeepFolders(20_000);
        var before = GC.GetTotalMemory(forceFullCollection: true);

        var result = UntrustedTarExtractor.Extract(tar, destination, "item", UntrustedTarExtractorTests.Generous);

        var held = GC.GetTotalMemory(forceFullCollection: true) - before;
        GC.KeepAlive(result);
        Assert.Equal(20_001, result.Created);
        // The old extractor held ~200 MB.
        Assert.True(held < 48L << 20, $"{held >> 20} MiB are still held after extracting 20,000 folders");
    }
}
