using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// A sandbox that replaces a folder on a bind's target with a link to the host (bwrap sees the
/// host's root at /oldroot while it makes the binds) must not get the next command to create or bind
/// anything on the host: Bubblewrap refuses the command with BindTargetSubverted, naming the link;
/// Nspawn resolves targets inside the sandbox's root. Either way nothing appears on the host.
/// </summary>
public abstract class BindTargetTests<TFixture> : IClassFixture<TFixture> where TFixture : HarnessFixture
{
    private readonly TFixture _fixture;

    protected BindTargetTests(TFixture fixture) => _fixture = fixture;

    protected abstract ProviderName Provider { get; }

    private ISandboxHarness Harness
    {
        get
        {
            Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
            return _fixture.Harness;
        }
    }

    private SandboxCommandResult Run(SandboxInfo sandbox, string script) =>
        Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "/bin/sh", "-c", script }, Timeout = TimeSpan.FromSeconds(60) });

    private SandboxInfo WithBinds(params string[] specs) => Harness.Create(new SandboxCreateOptions
    {
        Image = HarnessFixture.ImageName, Provider = Provider, Mounts = specs.Select(spec => BindMount.Parse(spec, readOnly: false)).ToArray(),
    });

    /// <summary>A host path that does not exist, and is deleted again whatever happens.</summary>
    private sealed class Victim : IDisposable
    {
        public string Path { get; } = $"/tmp/sandbox-test-victim-{Guid.NewGuid():N}";
        public void Dispose() => RunAsRoot.Command("rm", "-rf", Path);
    }

    /// <summary>The next command after the plant: refused by Bubblewrap, and in no case anything on the host.</summary>
    private void NextCommandLeavesTheHostAlone(SandboxInfo sandbox, Victim victim, string link)
    {
        if (Provider == ProviderName.Bubblewrap)
        {
            var error = Assert.Throws<SandboxException>(() => Run(sandbox, "true"));
            Assert.Equal("BindTargetSubverted", error.ErrorId);
            Assert.Contains(link, error.Message);
            Assert.Contains("symbolic link", error.Message);
        }
        else
        {
            try { Run(sandbox, "true"); }
            catch (SandboxException) { /* refusing is fine too; only the host matters */ }
        }
        Assert.False(Directory.Exists(victim.Path) || File.Exists(victim.Path), $"{victim.Path} was created on the host");
    }

    [SkippableFact]
    public void A_link_planted_on_a_bind_targets_folder_leaves_nothing_on_the_host()
    {
        var harness = Harness;
        using var share = new TemporaryFolder("bind-share");
        using var victim = new Victim();
        var sandbox = WithBinds($"{share.Path}:/opt2/data");
        var planted = Run(sandbox, $"mv /opt2 /opt2.old && ln -s /oldroot{victim.Path} /opt2");
        Assert.True(planted.ExitCode == 0, planted.StdErr);

        NextCommandLeavesTheHostAlone(sandbox, victim, "/opt2");
        harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void A_link_planted_as_the_bind_target_itself_leaves_nothing_on_the_host()
    {
        var harness = Harness;
        using var share = new TemporaryFolder("bind-share");
        using var victim = new Victim();
        var sandbox = WithBinds($"{share.Path}:/opt3/data");
        // The target is a mount point while a command runs, so it is replaced from a command without the bind's folder in its way: move the parent.
        var planted = Run(sandbox, $"mkdir /opt3.new && ln -s /oldroot{victim.Path} /opt3.new/data && mv /opt3 /opt3.old && mv /opt3.new /opt3");
        Assert.True(planted.ExitCode == 0, planted.StdErr);

        NextCommandLeavesTheHostAlone(sandbox, victim, "/opt3/data");
        harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void A_link_planted_in_a_bound_folder_on_a_nested_bind_target_leaves_nothing_on_the_host()
    {
        // The outer bind is the host's folder: the link the sandbox plants there is on the host, and
        // the inner bind's target goes through it.
        var harness = Harness;
        using var outer = new TemporaryFolder("bind-outer");
        using var inner = new TemporaryFolder("bind-inner");
        RunAsRoot.Command("chmod", "a+rwx", outer.Path);
        using var victim = new Victim();
        var sandbox = WithBinds($"{outer.Path}:/data", $"{inner.Path}:/data/sub/inner");
        var planted = Run(sandbox, $"mv /data/sub /data/sub.old && ln -s /oldroot{victim.Path} /data/sub");
        Assert.True(planted.ExitCode == 0, planted.StdErr);

        NextCommandLeavesTheHostAlone(sandbox, victim, "/data/sub");
        harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void A_link_planted_on_a_nested_binds_host_path_binds_nothing_else()
    {
        // The inner bind's host folder lies inside the outer bound folder, which the sandbox writes:
        // it swaps the folder for a link to a host folder it should not see. The backend resolves
        // the source on the host, so it would bind that folder.
        var harness = Harness;
        using var outer = new TemporaryFolder("bind-outer");
        using var hidden = new TemporaryFolder("bind-hidden");
        File.WriteAllText(Path.Combine(hidden.Path, "secret"), "host secret\n");
        Directory.CreateDirectory(Path.Combine(outer.Path, "sub"));
        RunAsRoot.Command("chmod", "-R", "a+rX", hidden.Path);
        RunAsRoot.Command("chmod", "-R", "a+rwx", outer.Path);
        var sandbox = WithBinds($"{outer.Path}:/data", $"{Path.Combine(outer.Path, "sub")}:/sub");
        var planted = Run(sandbox, $"mv /data/sub /data/sub.old && ln -s {hidden.Path} /data/sub");
        Assert.True(planted.ExitCode == 0, planted.StdErr);

        var error = Assert.Throws<SandboxException>(() => Run(sandbox, "cat /sub/secret"));

        Assert.Equal("BindSourceChanged", error.ErrorId);
        Assert.Contains(hidden.Path, error.Message);
        harness.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void Binds_under_real_folders_keep_working()
    {
        var harness = Harness;
        using var share = new TemporaryFolder("bind-share");
        File.WriteAllText(Path.Combine(share.Path, "hello"), "hello\n");
        RunAsRoot.Command("chmod", "a+r", Path.Combine(share.Path, "hello"));
        var sandbox = WithBinds($"{share.Path}:/opt4/deep/data", $"{share.Path}:/tmp/data");

        Assert.Equal("hello\nhello\n", Run(sandbox, "cat /opt4/deep/data/hello /tmp/data/hello").StdOut);
        Assert.Equal("hello\n", Run(sandbox, "cat /opt4/deep/data/hello").StdOut);
        harness.Remove(sandbox.Id);
    }
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "Root")]
public sealed class BubblewrapBindTargetAsRoot(RootHarnessFixture fixture) : BindTargetTests<RootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "NonRoot")]
public sealed class BubblewrapBindTargetAsUnprivilegedUser(UserHarnessFixture fixture) : BindTargetTests<UserHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Nspawn")]
[Trait("User", "Root")]
public sealed class NspawnBindTargetAsRoot(RootHarnessFixture fixture) : BindTargetTests<RootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Nspawn;
}
