using System.Net;
using System.Net.Sockets;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// What a command inside a sandbox must not reach: host paths that are not bound, the host's root
/// through /proc/1/root, new mounts, host processes, the host's loopback with -Network None, and
/// host files through links planted for Copy-SandboxItem. Each attempt fails and the host is unchanged.
/// </summary>
public abstract class EscapeTests<TFixture> : IClassFixture<TFixture> where TFixture : HarnessFixture
{
    private readonly TFixture _fixture;

    protected EscapeTests(TFixture fixture) => _fixture = fixture;

    protected abstract ProviderName Provider { get; }

    private ISandboxHarness Harness
    {
        get
        {
            Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
            return _fixture.Harness;
        }
    }

    private SandboxInfo NewSandbox() => Harness.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = Provider });

    private SandboxCommandResult Sh(SandboxInfo sandbox, string script) =>
        Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "/bin/sh", "-c", script }, Timeout = TimeSpan.FromSeconds(30) });

    [SkippableFact]
    public void Host_paths_that_are_not_bound_cannot_be_read_or_written()
    {
        var harness = Harness;
        using var host = new TemporaryFolder("escape-target");
        var secret = Path.Combine(host.Path, "secret");
        File.WriteAllText(secret, "host secret\n");
        RunAsRoot.Command("chmod", "a+rw", secret);
        var imageFile = Path.Combine(harness.ImageRootFs(HarnessFixture.ImageName), "data/file.txt");
        var sandbox = NewSandbox();

        Assert.NotEqual(0, Sh(sandbox, $"cat {secret}").ExitCode);
        Sh(sandbox, $"mkdir -p {host.Path}; echo pwned > {secret}; echo pwned > {imageFile}");
        // The sandbox's own /tmp now holds the "pwned" file it just wrote at that path; never the host's.
        Assert.NotEqual("host secret\n", Sh(sandbox, $"cat /proc/1/root{secret}").StdOut);
        Assert.Equal("0\n", Sh(sandbox, "test -e /proc/1/root/data/file.txt; echo $?").StdOut); // /proc/1/root is the sandbox's own

        Assert.Equal("host secret\n", File.ReadAllText(secret));
        Assert.Equal("original content\n", File.ReadAllText(imageFile));
        harness.Remove(sandbox.Id);
        Assert.Equal("host secret\n", File.ReadAllText(secret));
    }

    [SkippableFact]
    public void Mounting_is_refused_and_host_processes_are_invisible()
    {
        var sandbox = NewSandbox();
        Assert.NotEqual(0, Sh(sandbox, "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t").ExitCode);
        Assert.NotEqual(0, Sh(sandbox, "mount --bind / /mnt/t").ExitCode);
        Assert.NotEqual(0, Sh(sandbox, $"kill -0 {Environment.ProcessId}").ExitCode);
        Assert.Equal("1\n", Sh(sandbox, $"test -e /proc/{Environment.ProcessId}/root; echo $?").StdOut);
        Harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void Network_none_cannot_reach_a_host_loopback_service()
    {
        var harness = Harness;
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var sandbox = NewSandbox();

        var attempt = Sh(sandbox, $"echo hello | nc -w 2 127.0.0.1 {port}");

        Assert.NotEqual(0, attempt.ExitCode);
        Assert.False(listener.Pending(), "no connection reached the host's listener");
        harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void Links_planted_in_the_sandbox_never_make_Copy_SandboxItem_touch_host_files()
    {
        var harness = Harness;
        using var host = new TemporaryFolder("copy-target");
        var secret = Path.Combine(host.Path, "secret");
        File.WriteAllText(secret, "host secret\n");
        // Under /var/tmp, which persists inside the sandbox between commands (its /tmp does not).
        var victimFolder = Path.Combine("/var/tmp", $"sandbox-test-victim-{Guid.NewGuid():N}");
        Directory.CreateDirectory(victimFolder);
        using var cleanup = new DeleteOnDispose(victimFolder);
        var outFolder = Path.Combine(host.Path, "out");
        Directory.CreateDirectory(outFolder);
        var payload = Path.Combine(host.Path, "payload.txt");
        File.WriteAllText(payload, "payload\n");
        RunAsRoot.Command("chmod", "-R", "a+rwX", host.Path, victimFolder);
        var sandbox = NewSandbox();
        Assert.Equal(0, Sh(sandbox, $"ln -s {secret} /root/trick && ln -s {victimFolder} /root/into").ExitCode);

        // Out: a link to a host path never comes out (it would lead to the host's file there), and
        // the host secret is never read into a regular file.
        Assert.Equal("CopyRefused", Assert.Throws<SandboxException>(() => harness.CopyOutOf(sandbox.Id, "/root/trick", outFolder)).ErrorId);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outFolder));

        // In: a planted link to a folder the sandbox lacks is refused; once the sandbox has a folder of
        // that name, the copy lands there. Either way the host folder stays empty.
        var refused = Assert.Throws<SandboxException>(() => harness.CopyInto(sandbox.Id, payload, "/root/into"));
        Assert.Equal("CopyFailed", refused.ErrorId);
        Assert.Equal(0, Sh(sandbox, $"mkdir -p {victimFolder}").ExitCode);
        harness.CopyInto(sandbox.Id, payload, "/root/into");
        Assert.Empty(Directory.EnumerateFileSystemEntries(victimFolder));
        Assert.Equal("payload\n", Sh(sandbox, $"cat {victimFolder}/payload.txt").StdOut);

        // A plain round trip works.
        harness.CopyInto(sandbox.Id, payload, "/root/in");
        Assert.Equal("payload\n", File.ReadAllText(harness.CopyOutOf(sandbox.Id, "/root/in/payload.txt", outFolder)));
        Assert.Equal("host secret\n", File.ReadAllText(secret));
        harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void Removing_a_sandbox_with_a_bound_folder_and_links_to_host_files_leaves_the_host_untouched()
    {
        var harness = Harness;
        using var host = new TemporaryFolder("removal");
        var bound = Path.Combine(host.Path, "bound");
        Directory.CreateDirectory(Path.Combine(bound, "sub"));
        File.WriteAllText(Path.Combine(bound, "sub", "keep.txt"), "keep\n");
        var victim = Path.Combine(host.Path, "victim.txt");
        File.WriteAllText(victim, "victim\n");
        RunAsRoot.Command("chmod", "-R", "a+rwX", host.Path);
        var sandbox = harness.Create(new SandboxCreateOptions
        {
            Image = HarnessFixture.ImageName, Provider = Provider, Mounts = new[] { BindMount.Parse($"{bound}:/mnt/bound", false) },
        });
        Assert.Equal(0, Sh(sandbox, $"ln -s {victim} /root/victim && ln -s /mnt/bound /root/bound && ln -s {bound} /root/bound-host && mkdir -p /root/d && ln /data/file.txt /root/d/hard").ExitCode);

        harness.Remove(sandbox.Id);

        Assert.Equal("keep\n", File.ReadAllText(Path.Combine(bound, "sub", "keep.txt")));
        Assert.Equal("victim\n", File.ReadAllText(victim));
        Assert.Equal("original content\n", File.ReadAllText(Path.Combine(harness.ImageRootFs(HarnessFixture.ImageName), "data/file.txt")));
    }
}

internal sealed class DeleteOnDispose(string folder) : IDisposable
{
    public void Dispose() => Directory.Delete(folder, recursive: true);
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "Root")]
public sealed class BubblewrapEscapeAsRoot(RootHarnessFixture fixture) : EscapeTests<RootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "NonRoot")]
public sealed class BubblewrapEscapeAsUnprivilegedUser(UserHarnessFixture fixture) : EscapeTests<UserHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Nspawn")]
[Trait("User", "Root")]
public sealed class NspawnEscapeAsRoot(RootHarnessFixture fixture) : EscapeTests<RootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Nspawn;
}
