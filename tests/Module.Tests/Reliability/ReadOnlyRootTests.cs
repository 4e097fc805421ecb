using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// The busybox image plus a link planted in it: /escape -> / (absolute). A writable path through
/// it must be refused: the backends bind writable paths from host-side paths, where the link would
/// lead to the host's own root.
/// </summary>
public abstract class ReadOnlyRootFixture : HarnessFixture
{
    protected ReadOnlyRootFixture(Func<ISandboxHarness> makeHarness, string? skipReason) : base(makeHarness, skipReason) { }

    protected override void PrepareImage(ISandboxHarness harness, string scratch)
    {
        var rootfs = BusyboxTree.Create(Path.Combine(scratch, "rootfs"));
        File.CreateSymbolicLink(Path.Combine(rootfs, "escape"), "/");
        harness.Import(ImageName, rootfs);
    }
}

public sealed class ReadOnlyRootRootFixture() : ReadOnlyRootFixture(() => new InProcessHarness(),
    Environment.UserName == "root" ? null : "this fixture runs the engine as root; run the tests as root (CI does).");

public sealed class ReadOnlyRootUserFixture() : ReadOnlyRootFixture(() => new RemoteHarness(),
    UnprivilegedUser.CanCreate ? null : UnprivilegedUser.SkipReason);

/// <summary>
/// Enter-Sandbox -ReadOnlyRoot -WritablePath: every command of the sandbox sees / read-only (EROFS)
/// except the listed folders, each a mount of its own over the sandbox's layer; the sandbox cannot
/// remount / writable, not even from a user namespace of its own, and the image is never touched.
/// </summary>
public abstract class ReadOnlyRootTests<TFixture> : IClassFixture<TFixture> where TFixture : ReadOnlyRootFixture
{
    private readonly TFixture _fixture;

    protected ReadOnlyRootTests(TFixture fixture) => _fixture = fixture;

    protected abstract ProviderName Provider { get; }

    private ISandboxHarness Harness
    {
        get
        {
            Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
            return _fixture.Harness;
        }
    }

    private SandboxInfo ReadOnly(params string[] writable) => Harness.Create(new SandboxCreateOptions
    {
        Image = HarnessFixture.ImageName, Provider = Provider, ReadOnlyRoot = true, WritablePaths = writable,
    });

    private SandboxCommandResult Run(SandboxInfo sandbox, string script) =>
        Harness.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "/bin/sh", "-c", script }, Timeout = TimeSpan.FromSeconds(60) });

    private IReadOnlyList<SandboxChange> Changes(SandboxInfo sandbox) => Harness switch
    {
        RemoteHarness remote => remote.Changes(sandbox.Id),
        InProcessHarness local => local.Engine.GetChanges(local.Engine.GetSandbox(sandbox.Id)).ToList(),
        _ => throw new InvalidOperationException("unknown harness"),
    };

    private string ImagePath(string relative) => Path.Combine(Harness.ImageRootFs(HarnessFixture.ImageName), relative);

    [SkippableFact]
    public void Writes_fail_with_EROFS_except_in_the_writable_paths_for_every_command()
    {
        var harness = Harness;
        var sandbox = ReadOnly("/build", "/tmp");
        try
        {
            Assert.True(sandbox.ReadOnlyRoot);
            Assert.Equal(new[] { "/build", "/tmp" }, sandbox.WritablePaths);
            Assert.Contains(harness.List(), listed => listed.Id == sandbox.Id && listed.ReadOnlyRoot && listed.WritablePaths.SequenceEqual(new[] { "/build", "/tmp" }));

            var first = Run(sandbox, "touch /etc/x; echo etc=$?; touch /build/x; echo build=$?; touch /tmp/t; echo tmp=$?; touch /data/y; echo data=$?");
            Assert.Equal("etc=1\nbuild=0\ntmp=0\ndata=1\n", first.StdOut);
            Assert.Contains("/etc/x: Read-only file system", first.StdErr);
            Assert.Contains("/data/y: Read-only file system", first.StdErr);

            // The next command: the same rules, and what the first wrote in /build is still there.
            var second = Run(sandbox, "ls /build; mkdir /etc/new; echo mkdir=$?; echo more > /build/y; echo build=$?");
            Assert.Equal("x\nmkdir=1\nbuild=0\n", second.StdOut);
            Assert.Contains("Read-only file system", second.StdErr);

            var changes = Changes(sandbox).Select(change => change.Path).ToList();
            Assert.Contains("/build/x", changes);
            Assert.Contains("/build/y", changes);
            Assert.Contains("/tmp/t", changes);
            Assert.DoesNotContain(changes, path => path.StartsWith("/etc", StringComparison.Ordinal) || path.StartsWith("/data", StringComparison.Ordinal));
            Assert.False(File.Exists(ImagePath("etc/x")), "the image was written");
            Assert.False(Directory.Exists(ImagePath("build")), "the missing writable path was made in the image");
        }
        finally { harness.Remove(sandbox.Id); }
    }

    [SkippableFact]
    public void The_sandbox_cannot_remount_its_root_writable()
    {
        var harness = Harness;
        var sandbox = ReadOnly("/build");
        try
        {
            var remount = Run(sandbox, "mount -o remount,rw /; mount -o remount,bind,rw /; umount /build; touch /etc/x; echo etc=$?");
            Assert.Equal("etc=1\n", remount.StdOut);
            Assert.Contains("/etc/x: Read-only file system", remount.StdErr);
            Assert.False(File.Exists(ImagePath("etc/x")));
        }
        finally { harness.Remove(sandbox.Id); }
    }

    [SkippableFact]
    public void A_user_namespace_made_inside_finds_the_root_locked_read_only()
    {
        var harness = Harness;
        var sandbox = ReadOnly("/build");
        try
        {
            // Root of a user and mount namespace of its own holds CAP_SYS_ADMIN there, but the
            // copied root mount is locked read-only (it came from a more privileged namespace).
            var nested = Run(sandbox, "unshare -r -m sh -c 'echo inside; grep CapEff /proc/self/status; " +
                                      "mount -o remount,rw /; mount -o remount,bind,rw /; touch /etc/x; echo etc=$?'");
            if (Provider == ProviderName.Nspawn && !nested.StdOut.Contains("inside"))
            {
                // nspawn's seccomp filter may refuse the user namespace outright: the attack cannot start.
                Assert.NotEqual(0, nested.ExitCode);
            }
            else
            {
                Assert.True(nested.StdOut.StartsWith("inside\n", StringComparison.Ordinal), nested.StdOut + nested.StdErr);
                Assert.True(HoldsSysAdmin(nested.StdOut), "the nested namespace's root should hold CAP_SYS_ADMIN there: " + nested.StdOut);
                Assert.EndsWith("etc=1\n", nested.StdOut);
                Assert.Contains("/etc/x: Read-only file system", nested.StdErr);
            }
            Assert.Equal("", Run(sandbox, "ls /etc/x 2>/dev/null").StdOut);
            Assert.False(File.Exists(ImagePath("etc/x")));
        }
        finally { harness.Remove(sandbox.Id); }
    }

    /// <summary>Bit 21 of the CapEff line that /proc/self/status printed.</summary>
    private static bool HoldsSysAdmin(string stdout)
    {
        var line = stdout.Split('\n').Single(l => l.StartsWith("CapEff:", StringComparison.Ordinal));
        return (Convert.ToUInt64(line["CapEff:".Length..].Trim(), 16) & (1UL << 21)) != 0;
    }

    [SkippableFact]
    public void A_writable_path_through_a_link_in_the_image_is_refused_and_binds_nothing()
    {
        var harness = Harness;
        var before = harness.List().Count;
        // /escape -> / in the image: bound from the host side, /escape/tmp would be the host's /tmp.
        var error = Assert.Throws<SandboxException>(() => ReadOnly("/escape/tmp"));

        Assert.Equal("WritablePathSubverted", error.ErrorId);
        Assert.Contains("/escape is a symbolic link", error.Message);
        Assert.Equal(before, harness.List().Count);
    }

    [SkippableFact]
    public void Bad_writable_paths_are_refused_before_anything_is_made()
    {
        var harness = Harness;
        var before = harness.List().Count;
        foreach (var bad in new[] { "build", "/build/../etc", "/", "//", "/proc/x", "/run", "/a,b" })
            Assert.Equal("InvalidWritablePath", Assert.Throws<SandboxException>(() => ReadOnly(bad)).ErrorId);
        Assert.Equal("InvalidWritablePath", Assert.Throws<SandboxException>(() => ReadOnly("/build", "/build/out")).ErrorId);
        var without = Assert.Throws<SandboxException>(() => Harness.Create(new SandboxCreateOptions
        {
            Image = HarnessFixture.ImageName, Provider = Provider, WritablePaths = new[] { "/build" },
        }));
        Assert.Equal("WritablePathWithoutReadOnlyRoot", without.ErrorId);
        Assert.Equal(before, harness.List().Count);
    }

    [SkippableFact]
    public void Binds_keep_their_own_read_only_or_writable_state()
    {
        var harness = Harness;
        using var share = new TemporaryFolder("ro-share");
        using var shown = new TemporaryFolder("ro-shown");
        RunAsRoot.Command("chmod", "a+rwx", share.Path, shown.Path);
        var sandbox = Harness.Create(new SandboxCreateOptions
        {
            Image = HarnessFixture.ImageName, Provider = Provider, ReadOnlyRoot = true, WritablePaths = new[] { "/srv" },
            Mounts = new[] { BindMount.Parse($"{share.Path}:/share", readOnly: false), BindMount.Parse($"{shown.Path}:/srv/shown", readOnly: true) },
        });
        try
        {
            var result = Run(sandbox, "touch /share/a; echo share=$?; touch /srv/b; echo srv=$?; touch /srv/shown/c; echo shown=$?");
            Assert.Equal("share=0\nsrv=0\nshown=1\n", result.StdOut);
            Assert.True(File.Exists(Path.Combine(share.Path, "a")));
            Assert.False(File.Exists(Path.Combine(shown.Path, "c")));
        }
        finally { harness.Remove(sandbox.Id); }
    }
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "Root")]
public sealed class BubblewrapReadOnlyRootAsRoot(ReadOnlyRootRootFixture fixture) : ReadOnlyRootTests<ReadOnlyRootRootFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "NonRoot")]
public sealed class BubblewrapReadOnlyRootAsUnprivilegedUser(ReadOnlyRootUserFixture fixture) : ReadOnlyRootTests<ReadOnlyRootUserFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
}

[Trait("Area", "Reliability")]
[Trait("Provider", "Nspawn")]
[Trait("User", "Root")]
public sealed class NspawnReadOnlyRootAsRoot(ReadOnlyRootRootFixture fixture) : ReadOnlyRootTests<ReadOnlyRootRootFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Nspawn;
}

/// <summary>FakeChroot has no mounts of its own, so nothing could fail with EROFS: it refuses -ReadOnlyRoot.</summary>
[Trait("Area", "Reliability")]
[Trait("Provider", "FakeChroot")]
[Trait("User", "NonRoot")]
public sealed class FakeChrootReadOnlyRootRefusal(ReadOnlyRootUserFixture fixture) : IClassFixture<ReadOnlyRootUserFixture>
{
    [SkippableFact]
    public void FakeChroot_refuses_a_read_only_root_naming_Bubblewrap()
    {
        Skip.If(fixture.SkipReason is not null, fixture.SkipReason);
        var before = fixture.Harness.List().Count;
        var error = Assert.Throws<SandboxException>(() => fixture.Harness.Create(new SandboxCreateOptions
        {
            Image = HarnessFixture.ImageName, Provider = ProviderName.FakeChroot, ReadOnlyRoot = true, WritablePaths = new[] { "/build" },
        }));

        Assert.Equal("ReadOnlyRootUnsupported", error.ErrorId);
        Assert.Contains("Bubblewrap", error.Message);
        Assert.Equal(before, fixture.Harness.List().Count);
    }
}
