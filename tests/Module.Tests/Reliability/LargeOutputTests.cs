using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Output of any size comes back flagged, never silently lost, with the engine's memory bounded;
/// binary output comes back byte for byte; a timeout the engine cannot supervise is refused before
/// anything starts.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class LargeOutputTests : IClassFixture<RootHarnessFixture>
{
    private const long HalfGigabyte = 512L * 1024 * 1024;
    private readonly RootHarnessFixture _fixture;

    public LargeOutputTests(RootHarnessFixture fixture) => _fixture = fixture;

    private SandboxEngine Engine => ((InProcessHarness)_fixture.Harness).Engine;

    [SkippableFact]
    public void Half_a_gigabyte_of_stdout_comes_back_truncated_and_flagged_and_the_engine_stays_small()
    {
        Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
        // An engine process of its own, so its high-water mark (VmHWM) is this command's doing alone.
        using var busybox = new BusyboxStore("large-output");
        using var host = new RemoteHarness(asRoot: true, sharedStore: busybox.Root);
        var sandbox = host.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });

        var result = host.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", $"yes | head -c {HalfGigabyte}; echo done >&2" } });

        Assert.Equal(0, result.ExitCode);
        Assert.True(result.StdOutTruncated, "a result holding only part of stdout says so");
        Assert.Equal(HalfGigabyte, result.StdOutLength);
        Assert.Equal(Processes.ProcessSpec.DefaultOutputLimit, result.StdOut.Length);
        Assert.StartsWith("y\ny\ny\n", result.StdOut);
        Assert.False(result.StdErrTruncated);
        Assert.Equal("done\n", result.StdErr);
        var peakMiB = HighWaterMarkKiB(host.HostPid) / 1024;
        // The old runner held all 512 MiB as a string (1 GiB of UTF-16) and more while growing it.
        Assert.True(peakMiB < 400, $"the engine process peaked at {peakMiB} MiB for 512 MiB of output");
        host.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void Binary_stdout_comes_back_byte_for_byte()
    {
        Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
        var sandbox = Engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        var random = new byte[1000];
        Random.Shared.NextBytes(random);
        random[0] = 0xff; // never valid UTF-8: text decoding would have replaced it
        var written = Engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sh", "-c", "cat > /root/random" }, StandardInput = random });
        Assert.Equal(0, written.ExitCode);

        var result = Engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "cat", "/root/random" } });

        Assert.Equal(random, result.StdOutBytes);
        Assert.Equal(1000, result.StdOutLength);
        Assert.False(result.StdOutTruncated);
        Engine.RemoveSandbox(sandbox);
    }

    [SkippableFact]
    public void A_hundred_megabytes_of_stdin_arrive_whole()
    {
        Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
        var sandbox = Engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        var input = new byte[100 * 1024 * 1024];
        Random.Shared.NextBytes(input);
        var expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(input));

        var result = Engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sha256sum" }, StandardInput = input });

        Assert.Equal($"{expected}  -\n", result.StdOut);
        Engine.RemoveSandbox(sandbox);
    }

    [SkippableFact]
    public void A_timeout_longer_than_a_timer_supports_is_refused_before_the_command_starts()
    {
        Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
        var sandbox = Engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });

        var error = Assert.Throws<SandboxException>(() => Engine.Invoke(sandbox, new SandboxCommand
        {
            Argv = new[] { "touch", "/root/started" }, Timeout = TimeSpan.FromSeconds(4294968),
        }));

        Assert.Equal("InvalidTimeout", error.ErrorId);
        Assert.Equal(SandboxErrorKind.InvalidArgument, error.Kind);
        Assert.Contains("4294967", error.Message);
        Assert.Equal(1, Engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "test", "-e", "/root/started" } }).ExitCode);
        // The longest one that can be supervised is accepted.
        Assert.Equal(0, Engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "true" }, Timeout = SandboxErrors.MaxTimeout }).ExitCode);
        Engine.RemoveSandbox(sandbox);
    }

    private static long HighWaterMarkKiB(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith("VmHWM:"));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
    }
}
