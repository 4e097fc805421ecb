using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Host-side code meeting what a sandbox planted in its own tree: /etc/passwd replaced by a link to
/// /dev/zero or to a host file, by a FIFO, or by a huge file. The engine reads /etc/passwd on the host
/// for -User; each plant must give a clear error at once, with bounded memory, without blocking and
/// without a byte of the host file coming back.
/// </summary>
public abstract class HostileTreeTests<TFixture> : IClassFixture<TFixture> where TFixture : HarnessFixture
{
    private readonly TFixture _fixture;

    protected HostileTreeTests(TFixture fixture) => _fixture = fixture;

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
        Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "/bin/sh", "-c", script }, Timeout = TimeSpan.FromSeconds(60) });

    /// <summary>
    /// Runs `id` as <paramref name="user"/>. The old engine blocked forever on a FIFO: a guard (not a
    /// timing assertion) turns a hang into a failure instead of a frozen suite.
    /// </summary>
    private SandboxException IdAsUserFails(SandboxInfo sandbox, string user)
    {
        var attempt = Task.Run(() => Assert.Throws<SandboxException>(() =>
            Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "id" }, User = user, Timeout = TimeSpan.FromSeconds(60) })));
        Assert.True(attempt.Wait(TimeSpan.FromMinutes(3)), "looking the user up hung (the engine opened what the sandbox planted)");
        return attempt.Result;
    }

    [SkippableTheory]
    [InlineData("a link to /dev/zero", "ln -s /dev/zero /etc/passwd")]
    [InlineData("a FIFO", "mkfifo /etc/passwd")]
    [InlineData("a 17 MB file", "head -c 17000000 /dev/zero > /etc/passwd")]
    [InlineData("a link into /proc", "ln -s /proc/self/environ /etc/passwd")]
    public void A_planted_etc_passwd_is_refused_with_a_clear_error(string what, string plant)
    {
        var harness = Harness;
        var sandbox = NewSandbox();
        Assert.Equal(0, Sh(sandbox, $"rm /etc/passwd && {plant}").ExitCode);

        var error = IdAsUserFails(sandbox, "tester");

        Assert.True(error.ErrorId == "UnsafeSandboxFile", $"{what}: expected UnsafeSandboxFile, got {error.ErrorId}: {error.Message}");
        Assert.Contains("/etc/passwd", error.Message);
        // The sandbox itself still works for root, which needs no lookup.
        Assert.Equal("ok\n", Sh(sandbox, "echo ok").StdOut);
        harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void A_link_from_etc_passwd_to_a_host_file_leaks_nothing_of_that_file()
    {
        var harness = Harness;
        using var host = new TemporaryFolder("passwd-leak");
        var hostFile = Path.Combine(host.Path, "host-passwd");
        // What the host file would give away if it were read: a home folder that is a secret.
        File.WriteAllText(hostFile, "spy:x:4242:4242:spy:/HOST-SECRET-42:/bin/sh\n");
        RunAsRoot.Command("chmod", "a+r", hostFile);
        var sandbox = NewSandbox();
        Assert.Equal(0, Sh(sandbox, $"rm /etc/passwd && ln -s {hostFile} /etc/passwd").ExitCode);

        var error = IdAsUserFails(sandbox, "spy");

        Assert.Equal("UnsafeSandboxFile", error.ErrorId);
        Assert.DoesNotContain("HOST-SECRET", error.Message);
        Assert.DoesNotContain("4242", error.Message);
        harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void A_link_inside_a_folder_of_the_path_resolves_inside_the_sandbox()
    {
        // /etc itself a link to /oldetc: followed, but only inside the sandbox's root, never to the
        // host's /etc, whose users the sandbox does not have.
        var harness = Harness;
        var sandbox = NewSandbox();
        if (Provider == ProviderName.Nspawn)
        {
            // nspawn bind-mounts files into /etc for every command, so the sandbox cannot move /etc
            // and this attack cannot even be set up: that is what is checked here.
            Assert.NotEqual(0, Sh(sandbox, "mv /etc /oldetc").ExitCode);
            harness.Remove(sandbox.Id);
            return;
        }
        var planted = Sh(sandbox, "mv /etc /oldetc && ln -s /oldetc /etc && echo 'ghost:x:4343:4343::/ghost:/bin/sh' >> /oldetc/passwd");
        Assert.True(planted.ExitCode == 0, planted.StdErr);

        var result = Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "id", "-u" }, User = "ghost", Timeout = TimeSpan.FromSeconds(60) });

        Assert.Equal("4343\n", result.StdOut);
        harness.Remove(sandbox.Id);
    }
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "Root")]
public sealed class BubblewrapHostileTreeAsRoot(RootHarnessFixture fixture) : HostileTreeTests<RootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "NonRoot")]
public sealed class BubblewrapHostileTreeAsUnprivilegedUser(UserHarnessFixture fixture) : HostileTreeTests<UserHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Nspawn")]
[Trait("User", "Root")]
public sealed class NspawnHostileTreeAsRoot(RootHarnessFixture fixture) : HostileTreeTests<RootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Nspawn;
}
