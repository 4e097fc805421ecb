using Sandbox.Images;
using Sandbox.Processes;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests;

/// <summary>
/// The launcher of a root build in memory (Images.BuildNamespace), run for real as root with a bash
/// script as the builder: the real namespaces, tmpfs, copy and fallback reports, in a second each,
/// for what a real build reaches only by chance (a daemon left writing, a tree that fills its memory
/// but "succeeds", a killed builder, an xattr the disk cannot keep). The builder gets its target as $1.
/// </summary>
[Trait("Area", "Images")]
[Trait("User", "Root")]
public sealed class BuildInMemoryLauncherTests
{
    private sealed record Launched(ProcessOutcome Outcome, string[] OnDisk, Dictionary<string, long> FileSizes);

    /// <summary>Runs <paramref name="script"/> as the builder with a tmpfs of <paramref name="bytes"/>; what the target holds on the disk afterwards.</summary>
    private static Launched Run(string script, long bytes = 64L << 20)
    {
        using var folder = new TemporaryFolder("memory-launcher");
        var layout = new StoreLayout(Path.Combine(folder.Path, "store")).EnsureCreated();
        using var staging = HeldStagingFolder.Create(Path.Combine(layout.ImagesFolder, ".staging-launcher"), layout.ImagesFolder);
        var target = Path.Combine(staging.Path, "rootfs");
        Directory.CreateDirectory(target);
        using var place = BuildNamespace.Of(staging);
        place.UseMemory(target, new BuildMemory.Reservation(-1, bytes));
        var (argv, passed) = place.Launch(new[] { "/bin/bash", "-c", script, "builder", place.BuilderPath(target) });
        var outcome = HostCommand.Run(NullEngineLog.Instance, argv, passed: passed);
        // Whatever the builder left running had its chance to write on.
        Thread.Sleep(300);
        var onDisk = Directory.EnumerateFileSystemEntries(target, "*", SearchOption.AllDirectories)
            .Select(path => Path.GetRelativePath(target, path)).Order(StringComparer.Ordinal).ToArray();
        var sizes = onDisk.Where(name => File.GetAttributes(Path.Combine(target, name)) is var attributes && !attributes.HasFlag(FileAttributes.Directory))
            .ToDictionary(name => name, name => new FileInfo(Path.Combine(target, name)).Length);
        return new Launched(outcome, onDisk, sizes);
    }

    /// <summary>The launcher reported <paramref name="reason"/> for going back to the disk, and left nothing there.</summary>
    private static void AssertBackToTheDisk(Launched run, string reason)
    {
        Assert.Equal(BuildMemory.FallbackExitCode, run.Outcome.ExitCode);
        Assert.Contains($"{BuildMemory.FallbackMarker} {reason}", run.Outcome.StdErr);
        Assert.Empty(run.OnDisk);
    }

    private static void SkipUnlessRoot() =>
        Skip.If(Environment.UserName != "root", "the launcher mounts and makes namespaces; run the tests as root (CI does).");

    [SkippableFact]
    public void A_builder_that_succeeds_has_its_tree_copied_to_the_disk()
    {
        SkipUnlessRoot();
        var run = Run("mkdir \"$1/etc\" && echo hello > \"$1/etc/greeting\" && ln -s etc/greeting \"$1/link\"");

        Assert.True(run.Outcome.ExitCode == 0, run.Outcome.StdErr);
        Assert.Equal(new[] { "etc", "etc/greeting", "link" }, run.OnDisk);
    }

    [SkippableFact]
    public void What_the_builder_leaves_running_dies_with_it_before_the_copy()
    {
        SkipUnlessRoot();
        // A daemon a maintainer script left: 50 ms after the builder exits (its parent changes) it starts
        // overwriting every file of the tree, over and over. Alive during the copy, it had the disk get
        // files the builder never wrote (a 150 MB file cut to 6 bytes, empty files saying "after").
        var run = Run("for d in $(seq 50); do mkdir \"$1/d$d\"; for f in $(seq 40); do : > \"$1/d$d/f$f\"; done; done; " +
                      "head -c 150M /dev/zero > \"$1/big\"; " +
                      "setsid bash -c 'read -r _ _ _ parent _ < /proc/$$/stat; p=$parent; " +
                      "while read -r _ _ _ parent _ < /proc/$$/stat && [ \"$parent\" = \"$p\" ]; do :; done; sleep 0.05; " +
                      "while :; do for f in \"$1\"/big \"$1\"/d*/f*; do echo after > \"$f\"; done; done' daemon \"$1\" & sleep 0.2",
            bytes: 1L << 30);

        Assert.True(run.Outcome.ExitCode == 0, run.Outcome.StdErr);
        Assert.Equal(1 + 50 * 40, run.FileSizes.Count);
        Assert.Equal(150L << 20, run.FileSizes["big"]);
        Assert.All(run.FileSizes.Where(file => file.Key != "big"), file => Assert.Equal(0, file.Value));
    }

    [SkippableFact]
    public void A_builder_that_fills_its_memory_goes_back_to_the_disk_even_when_it_says_it_succeeded()
    {
        SkipUnlessRoot();
        // A maintainer script's "|| true" swallows the failed write; the tree is short of a file.
        var run = Run("dd if=/dev/zero of=\"$1/big\" bs=1M count=100 2>/dev/null || true; exit 0");

        AssertBackToTheDisk(run, "the build outgrew its memory");
    }

    [SkippableFact]
    public void A_killed_builder_goes_back_to_the_disk()
    {
        SkipUnlessRoot();
        // What the memory cgroup's OOM killer does; util-linux's unshare before 2.40 exits 1 for it.
        var run = Run("kill -KILL $$");

        AssertBackToTheDisk(run, "the build outgrew its memory");
    }

    [SkippableFact]
    public void A_tree_the_disk_cannot_take_as_it_is_is_deleted_and_the_build_goes_back_to_the_disk()
    {
        SkipUnlessRoot();
        Skip.If(ToolLocator.Find("setfattr") is null, "setfattr (attr) is not installed; tools/setup.sh installs it.");
        // tmpfs keeps a 20 KB xattr value, ext4 (one block) does not: cp -a dropped it and succeeded.
        var value = "0x" + new string('a', 40_000);
        var run = Run($"mkdir \"$1/etc\" && : > \"$1/etc/a\" && : > \"$1/big\" && setfattr -n trusted.big -v {value} \"$1/big\"");

        AssertBackToTheDisk(run, "the tree could not be copied from memory");
    }

    [Theory]
    [InlineData(0, false, null, true, null)]
    [InlineData(1, true, "the build outgrew its memory", true, null)]
    [InlineData(125, false, null, true, null)] // the launcher's own setup failure, the copy's disk full included
    [InlineData(123, false, "the build outgrew its memory (1 bytes)", false, "the build outgrew its memory (1 bytes)")]
    [InlineData(123, false, null, false, null)] // the status without the launcher's report is the builder's own
    [InlineData(2, false, null, true, "the builder ran out of space: No space left on device")]
    [InlineData(1, false, null, false, null)]
    public void A_build_goes_back_to_the_disk_on_the_launchers_report_or_an_ENOSPC_of_a_failed_builder(
        int exitCode, bool cancelled, string? report, bool sawNoSpace, string? expected) =>
        Assert.Equal(expected, BuildMemory.FallbackReason(exitCode, cancelled, report, sawNoSpace));
}
