using System.Security.Cryptography;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Copy-SandboxItem -FromSandbox reads the sandbox's tar stream as it arrives, with the engine's
/// memory bounded whatever the stream holds: a planted tar that announces a huge file and sends
/// more than a gigabyte, or sends a gigabyte of garbage, makes the copy fail with a clear error,
/// stops that tar, and leaves nothing in the destination but what the copy wrote. The engine runs
/// in an EngineHost process of its own, so its high-water mark (VmHWM) is the copy's doing alone.
/// </summary>
public abstract class CopyOutStreamingTests<TFixture> : IClassFixture<TFixture> where TFixture : HarnessFixture
{
    private const long StreamBytes = 1200L * 1024 * 1024;
    private const long MemoryBoundMiB = 200;
    private readonly TFixture _fixture;

    protected CopyOutStreamingTests(TFixture fixture) => _fixture = fixture;

    private RemoteHarness Harness
    {
        get
        {
            Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
            return (RemoteHarness)_fixture.Harness;
        }
    }

    private SandboxInfo NewSandbox() => Harness.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });

    private SandboxCommandResult Sh(SandboxInfo sandbox, string script)
    {
        var result = Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "/bin/sh", "-c", script }, Timeout = TimeSpan.FromSeconds(120) });
        Assert.True(result.ExitCode == 0, $"{script}: {result.StdErr}");
        return result;
    }

    private static TemporaryFolder OutFolder(out string path)
    {
        var host = new TemporaryFolder("copy-out-stream");
        path = Path.Combine(host.Path, "out");
        Directory.CreateDirectory(path);
        RunAsRoot.Command("chmod", "a+rwx", path);
        return host;
    }

    /// <summary>Replaces the sandbox's tar with a script that ignores its arguments and runs <paramref name="body"/>.</summary>
    private void PlantTar(SandboxInfo sandbox, string body) => Sh(sandbox,
        "mkdir -p /usr/local/bin && for t in /bin/tar /usr/bin/tar /usr/local/bin/tar; do rm -f $t; " +
        $"printf '%s\\n' '#!/bin/sh' '{body}' > $t; chmod 755 $t; done");

    /// <summary>Puts <paramref name="bytes"/> at /root/<paramref name="name"/> in the sandbox.</summary>
    private void PutFile(SandboxInfo sandbox, string name, byte[] bytes)
    {
        using var folder = new TemporaryFolder("copy-out-put");
        var path = Path.Combine(folder.Path, name);
        File.WriteAllBytes(path, bytes);
        RunAsRoot.Command("chmod", "a+r", path);
        Harness.CopyInto(sandbox.Id, path, "/root");
    }

    /// <summary>Forgets the engine host's peak resident size (clear_refs 5), so the next reading is what follows.</summary>
    private void ResetPeakMemory() => File.WriteAllText($"/proc/{Harness.HostPid}/clear_refs", "5");

    private long PeakMemoryMiB()
    {
        var line = File.ReadLines($"/proc/{Harness.HostPid}/status").Single(l => l.StartsWith("VmHWM:"));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024;
    }

    [SkippableFact]
    public void A_planted_tar_announcing_a_huge_file_and_sending_over_a_gigabyte_fails_the_copy_with_memory_bounded()
    {
        var harness = Harness;
        using var host = OutFolder(out var outFolder);
        var sandbox = NewSandbox();
        // A valid header for a 4 GiB file, then 1.2 GB of "y\n" and the end: a stream cut short.
        PutFile(sandbox, "header", CraftedTar.Header("item", 4L << 30));
        PlantTar(sandbox, $"cat /root/header; yes | head -c {StreamBytes}");
        ResetPeakMemory();

        var error = Assert.Throws<SandboxException>(() => harness.CopyOutOf(sandbox.Id, "/item", outFolder));

        var peak = PeakMemoryMiB();
        Assert.Equal("CopyOutDamaged", error.ErrorId);
        Assert.Contains("ends before the archive does", error.Message);
        // Every byte went to the file as it came (so more than a gigabyte streamed through), none stayed in memory.
        Assert.Equal(new[] { Path.Combine(outFolder, "item") }, Directory.EnumerateFileSystemEntries(outFolder));
        Assert.Equal(StreamBytes, new FileInfo(Path.Combine(outFolder, "item")).Length);
        Assert.True(peak < MemoryBoundMiB, $"the engine peaked at {peak} MiB while {StreamBytes} bytes streamed");
        harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void A_planted_tar_sending_a_gigabyte_of_garbage_is_stopped_at_once_with_memory_bounded()
    {
        var harness = Harness;
        using var host = OutFolder(out var outFolder);
        var sandbox = NewSandbox();
        // The marker is written only if the garbage was all taken: it must not be.
        PlantTar(sandbox, $"echo planted-tar-was-here >&2; yes | head -c {StreamBytes}; touch /root/sent-everything");
        ResetPeakMemory();

        var error = Assert.Throws<SandboxException>(() => harness.CopyOutOf(sandbox.Id, "/item", outFolder));

        var peak = PeakMemoryMiB();
        Assert.Equal("CopyOutDamaged", error.ErrorId);
        Assert.Contains("Nothing was written", error.Message);
        Assert.Contains("The sandbox's tar said: planted-tar-was-here", error.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outFolder));
        Assert.True(peak < MemoryBoundMiB, $"the engine peaked at {peak} MiB for a stream of garbage");
        Sh(sandbox, "test ! -e /root/sent-everything");
        harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void A_planted_tar_announcing_more_than_the_destination_holds_is_stopped_before_a_byte_is_written()
    {
        var harness = Harness;
        using var host = OutFolder(out var outFolder);
        var sandbox = NewSandbox();
        // 2^62 bytes (GNU base-256 size): more than any destination's free space.
        PutFile(sandbox, "header", CraftedTar.Header("item", 1L << 62));
        PlantTar(sandbox, $"cat /root/header; yes | head -c {StreamBytes}; touch /root/sent-everything");
        ResetPeakMemory();

        var error = Assert.Throws<SandboxException>(() => harness.CopyOutOf(sandbox.Id, "/item", outFolder));

        var peak = PeakMemoryMiB();
        Assert.Equal("CopyOutTooLarge", error.ErrorId);
        Assert.Contains("free space", error.Message);
        Assert.Contains("its tar was killed", error.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outFolder));
        Assert.True(peak < MemoryBoundMiB, $"the engine peaked at {peak} MiB");
        Sh(sandbox, "test ! -e /root/sent-everything");
        harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void A_tree_with_a_hundred_megabyte_file_comes_out_byte_for_byte_with_memory_bounded()
    {
        var harness = Harness;
        using var host = OutFolder(out var outFolder);
        var sandbox = NewSandbox();
        var sums = Sh(sandbox, "mkdir -p /root/big/sub && head -c 104857600 /dev/urandom > /root/big/sub/blob && echo small > /root/big/small" +
                               " && sha256sum /root/big/sub/blob | cut -d' ' -f1").StdOut.Trim();
        ResetPeakMemory();

        var copied = harness.CopyOutOf(sandbox.Id, "/root/big", outFolder);

        var peak = PeakMemoryMiB();
        Assert.Equal(Path.Combine(outFolder, "big"), copied);
        using (var blob = File.OpenRead(Path.Combine(copied, "sub", "blob")))
            Assert.Equal(sums, Convert.ToHexStringLower(SHA256.HashData(blob)));
        Assert.Equal(104857600, new FileInfo(Path.Combine(copied, "sub", "blob")).Length);
        Assert.Equal("small\n", File.ReadAllText(Path.Combine(copied, "small")));
        Assert.True(peak < MemoryBoundMiB, $"the engine peaked at {peak} MiB copying 100 MiB");
        harness.Remove(sandbox.Id);
    }
}

/// <summary>The engine as root, in an EngineHost of its own (its peak memory is then the copy's alone).</summary>
public sealed class RootEngineHostFixture : HarnessFixture
{
    public RootEngineHostFixture() : base(() => new RemoteHarness(asRoot: true),
        Environment.UserName == "root" ? null : "this fixture runs the engine as root; run the tests as root (CI does).") { }
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "Root")]
public sealed class BubblewrapCopyOutStreamingAsRoot(RootEngineHostFixture fixture) : CopyOutStreamingTests<RootEngineHostFixture>(fixture);

[Trait("Area", "Reliability")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "NonRoot")]
public sealed class BubblewrapCopyOutStreamingAsUnprivilegedUser(UserHarnessFixture fixture) : CopyOutStreamingTests<UserHarnessFixture>(fixture);
