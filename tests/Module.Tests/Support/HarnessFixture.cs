namespace Sandbox.Tests.Support;

/// <summary>
/// One harness and one imported busybox image shared by the tests of a class. A fixture that cannot
/// run here (no root to create the test user) carries a skip reason instead, which every test reports.
/// </summary>
public abstract class HarnessFixture : IDisposable
{
    public const string ImageName = "testimage";
    private readonly TemporaryFolder _tree = new("tree");
    private readonly ISandboxHarness? _harness;

    protected HarnessFixture(Func<ISandboxHarness> makeHarness, string? skipReason)
    {
        SkipReason = skipReason;
        if (skipReason is not null) return;
        _harness = makeHarness();
        PrepareImage(_harness, _tree.Path);
    }

    /// <summary>Puts the test image into the harness's store: by default the busybox tree, imported.</summary>
    protected virtual void PrepareImage(ISandboxHarness harness, string scratch) =>
        harness.Import(ImageName, BusyboxTree.Create(Path.Combine(scratch, "rootfs")));

    public string? SkipReason { get; }
    public ISandboxHarness Harness => _harness ?? throw new InvalidOperationException(SkipReason);

    public void Dispose()
    {
        _harness?.Dispose();
        _tree.Dispose();
    }
}

public sealed class RootHarnessFixture : HarnessFixture
{
    public RootHarnessFixture() : base(() => new InProcessHarness(),
        Environment.UserName == "root" ? null : "this fixture runs the engine as root; run the tests as root (CI does).") { }
}

public sealed class UserHarnessFixture : HarnessFixture
{
    public UserHarnessFixture() : base(() => new RemoteHarness(),
        UnprivilegedUser.CanCreate ? null : UnprivilegedUser.SkipReason) { }
}

/// <summary>
/// The FakeChroot provider needs dynamically linked programs (LD_PRELOAD does not reach static ones)
/// and an image owned by the user: a bookworm minbase built rootless with mmdebstrap --mode=fakechroot,
/// with the conformance suite's sample files added.
/// </summary>
public sealed class FakeChrootHarnessFixture : HarnessFixture
{
    public FakeChrootHarnessFixture() : base(() => new RemoteHarness(), UnprivilegedUser.CanCreate ? null : UnprivilegedUser.SkipReason) { }

    protected override void PrepareImage(ISandboxHarness harness, string scratch)
    {
        harness.Build(ImageName, new Images.ImageBuildOptions { Suite = "bookworm", Mode = "fakechroot" });
        var rootfs = harness.ImageRootFs(ImageName);
        BusyboxTree.AddSamples(rootfs);
        foreach (var path in new[] { "data", "home/tester", "etc/passwd", "etc/group", "etc/hostname" })
            RunAsRoot.Command("chown", "-R", $"{UnprivilegedUser.Name}:", Path.Combine(rootfs, path));
    }
}